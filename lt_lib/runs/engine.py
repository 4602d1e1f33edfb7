"""How a run uses its device: precision, memory format, compilation and evaluation batch size.

None of this changes what is trained: the config (and its hash) stay the same, and the same seed gives
the same batches on every engine. What it changes is rounding: channels_last and a different
evaluation batch pick other convolution kernels; bf16 autocast and ``torch.compile`` round
differently again. ``PLAIN`` is the plain path (fp32, contiguous, eager), which
``tests/test_engine.py`` holds the optimized one against.

Defaults, from ``python -m lt_lib bench --variants`` on this project's CPU machines (2-core AMD EPYC,
AVX2, no AMX; records in results/bench/, numbers in the README's "Speed"):
- channels_last trains faster on a CPU, but PyTorch's CPU BatchNorm backward on channels_last tensors
  is less exact (a first step's gradient 2.5x further from float64 than contiguous), and runs from one
  seed drift apart. So on a CPU the model trains contiguous, bit-equal to ``PLAIN``, and only
  evaluation, which has no batch statistics, feeds channels_last images. On CUDA both use channels_last.
- evaluation batches of 500 on a CPU (1000 spills the caches), 5000 on a GPU.
- ``auto`` precision is bf16 on CUDA and fp32 on every CPU. Results must be a function of the config, the
  seed and the engine options, never of the host's CPU flags: with ``auto`` picking bf16 on CPUs that list
  ``avx512_bf16``, the same smoke run gave 84.5% in fp32 and 73.0% in bf16 on two CI machines. bf16 on a
  CPU is there when asked for (``--precision bf16``) and recorded in the run's provenance; on a CPU
  without AMX or AVX512-BF16 it is emulated, an order of magnitude slower than fp32.
- ``torch.compile`` on this CPU gains a few percent in training after about a minute of compiling per
  batch shape and is not bit-equal to eager; on an H200 it took 42 s to compile, and 75-139 s for a
  first epoch with six runs sharing the card (../shared/runs/2026-11-28-h200), past the 15 s of warm-up a
  run may spend. So ``auto`` never compiles: on CUDA the whole training step is captured as a CUDA
  graph instead (``graph``, see ``step.CapturedStep`` and ``step.as_run``), which removes the launch overhead that bounds a
  ResNet-32 step there, after three eager steps and a capture.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass

import torch

from ..errors import LtError

PRECISIONS = ("auto", "fp32", "bf16")
COMPILE = ("auto", "on", "off")
GRAPH = ("auto", "on", "off")
CHANNELS_LAST = ("auto", "on", "off", "eval")
PLAIN = {"precision": "fp32", "compile": "off", "channels_last": "off", "eval_batch": 1000, "graph": "off"}


def cpu_has_fast_bf16(cpuinfo=None) -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX or AVX512-BF16), read from /proc/cpuinfo
    (or the file named by ``$LT_CPUINFO``, so that tests can pose as any CPU). Informative only: the
    engine's choices do not depend on it (see the module notes)."""
    cpuinfo = cpuinfo or os.environ.get("LT_CPUINFO") or "/proc/cpuinfo"
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


@dataclass(frozen=True)
class Engine:
    device: torch.device
    precision: str       # "fp32" or "bf16" (autocast of the forward pass; BatchNorm statistics and losses in fp32)
    compile: bool        # torch.compile of the model's forward (static shapes), eager fallback on failure
    channels_last: bool  # the model and its training batches
    eval_channels_last: bool  # the evaluation batches
    eval_batch: int
    graph: bool = False  # the whole training step as a CUDA graph, replayed (CUDA only)

    @property
    def memory_format(self):
        """Of the model and the training batches."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def eval_memory_format(self):
        return torch.channels_last if self.eval_channels_last else torch.contiguous_format

    def autocast(self):
        """The forward pass's precision context (a no-op in fp32)."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward_fn(self, model: torch.nn.Module):
        """What the trainer calls instead of ``model``: the model itself, or its compiled forward."""
        return CompiledForward(model) if self.compile else model

    def optimizer(self, params, lr: float, **kwargs) -> torch.optim.SGD:
        """SGD, fused on CUDA (one kernel for every parameter), the default foreach loop elsewhere; with
        a captured step its lr is a device tensor, which ``set_lr`` changes in place."""
        if self.graph:
            lr = torch.tensor(lr, device=self.device)
        return torch.optim.SGD(params, lr=lr, fused=True if self.device.type == "cuda" else None, **kwargs)

    @staticmethod
    def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
        for group in optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def describe(self) -> dict:
        return {**asdict(self), "device": str(self.device)}


class CompiledForward:
    """``torch.compile(model)`` that falls back to the eager model, with one line of warning, when
    compiling fails (no C compiler, no Triton, an unsupported platform)."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.compiled, self.failed = model, torch.compile(model, dynamic=False), None

    def __call__(self, x):
        if self.failed is None:
            try:
                return self.compiled(x)
            except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eager
                self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
                print(f"torch.compile failed ({self.failed}); training eager")
        return self.model(x)


def make_engine(device: torch.device, precision: str = "auto", compile: str | bool = "auto",
                channels_last: str = "auto", eval_batch: int | None = None, graph: str | bool = "auto") -> Engine:
    """The engine for ``device`` (a resolved ``torch.device``); ``auto`` choices as in the module notes."""
    if precision not in PRECISIONS:
        raise LtError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if isinstance(compile, bool):
        compile = "on" if compile else "off"
    if compile not in COMPILE:
        raise LtError(f"unknown compile setting {compile!r}; choose one of {', '.join(COMPILE)}")
    cuda = device.type == "cuda"
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if channels_last not in CHANNELS_LAST:
        raise LtError(f"unknown channels_last setting {channels_last!r}; choose one of {', '.join(CHANNELS_LAST)}")
    if channels_last == "auto":
        channels_last = "on" if cuda else "eval"
    if eval_batch is not None and eval_batch < 1:
        raise LtError(f"evaluation batch must be at least 1, got {eval_batch}")
    if isinstance(graph, bool):
        graph = "on" if graph else "off"
    if graph not in GRAPH:
        raise LtError(f"unknown graph setting {graph!r}; choose one of {', '.join(GRAPH)}")
    if graph == "on" and not cuda:
        raise LtError("CUDA graphs need a CUDA device; use --graph off (or auto) on a CPU")
    return Engine(device, precision, compile == "on", channels_last == "on", channels_last != "off",
                  eval_batch or (5000 if cuda else 500), graph == "on" or (graph == "auto" and cuda))


def fp32(output):
    """An exit's output (logits, or the three ResLT branch logits) in fp32, for the losses."""
    if isinstance(output, torch.Tensor):
        return output.float()
    return type(output)(fp32(o) for o in output)
