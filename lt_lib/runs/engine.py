"""How a run uses its device: precision, memory format, compilation and evaluation batch size.

None of this changes what is trained: the config (and its hash) stay the same, and the same seed gives
the same batches on every engine. What it changes is rounding: channels_last and a different
evaluation batch pick other convolution kernels; bf16 autocast and ``torch.compile`` round
differently again. ``PLAIN`` is the plain path (fp32, contiguous, eager), which
``tests/test_engine.py`` holds the optimized one against.

Defaults (``auto``), from ``python -m lt_lib bench --variants`` on this project's CPU machines:
- **CUDA**: bf16 autocast, channels_last, the whole training step captured as a CUDA graph
  (``graph``, see ``step.CapturedStep``), evaluation batches of 5000.
- **A CPU with native bf16 (AMX or AVX512-BF16), quick and full runs**: bf16 autocast + channels_last
  for training and evaluation. On an AMX host a ResNet-32 training step at one thread runs 195 img/s
  in fp32 and 465 img/s so (2.4x); a full run takes under 3 hours instead of 3.3-4.3. The precision,
  memory format and the CPU's model and bf16 flags are recorded in every run's provenance, since a
  run's numbers now depend on them (a bf16 run does not repeat an fp32 one bit for bit).
- **Any other CPU, and the smoke profile everywhere** (tests, plumbing checks): fp32, the model and
  its training batches contiguous, bit-equal to ``PLAIN`` (channels_last's CPU BatchNorm backward is
  less exact: a first step's gradient 2.5x further from float64); evaluation, which has no batch
  statistics, feeds channels_last images. bf16 on a CPU without AMX or AVX512-BF16 is emulated, an
  order of magnitude slower than fp32, and is never chosen there. So tests never depend on the host's
  CPU flags: they run the smoke profile.
- evaluation batches of 500 on a CPU (1000 spills the caches).
- ``torch.compile`` on a CPU gains a few percent in training after about a minute of compiling per
  batch shape and is not bit-equal to eager; on an H200 it took 42 s to compile, and 75-139 s for a
  first epoch with six runs sharing the card (../shared/runs/2026-11-28-h200), past the 15 s of warm-up a
  run may spend. So ``auto`` never compiles; on CUDA the step is captured instead, which removes the
  launch overhead that bounds a ResNet-32 step there, after three eager steps and a capture.
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


BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", *BF16_FLAGS)
BF16_PROFILES = ("quick", "full")  # the runs ``auto`` trains in bf16 on a CPU with native bf16


def _cpuinfo(cpuinfo=None) -> tuple[str, list[str]]:
    """(model name, flags) from /proc/cpuinfo, or the file named by ``$LT_CPUINFO`` (so that tests can
    pose as any CPU)."""
    cpuinfo = cpuinfo or os.environ.get("LT_CPUINFO") or "/proc/cpuinfo"
    model, flags = "unknown CPU", []
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    return model, flags


def cpu_has_fast_bf16(cpuinfo=None) -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX or AVX512-BF16)."""
    flags = _cpuinfo(cpuinfo)[1]
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cpu_info(cpuinfo=None) -> dict:
    """What a CPU run's provenance records of the CPU: model, the ISA flags that matter for its speed
    and rounding, whether it has native bf16, and PyTorch's kernel capability level."""
    model, flags = _cpuinfo(cpuinfo)
    return {"model": model, "isa": [f for f in ISA_FLAGS if f in flags], "native_bf16": cpu_has_fast_bf16(cpuinfo),
            "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")}


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

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """``optimizer.load_state_dict(state)`` that keeps what the engine chose: each group's lr stays the
        engine's object (with a captured step, the device tensor the graph reads: loading would put the
        checkpoint's CPU tensor or float in its place, and ``set_lr`` would then change a tensor no graph
        reads, so a resumed run kept one lr for good) and ``fused`` the engine's choice, not the saving
        machine's. The momentum buffers move to the parameters' device."""
        keep = [(g["lr"], g.get("fused")) for g in optimizer.param_groups]
        optimizer.load_state_dict(state)
        for group, (lr, fused) in zip(optimizer.param_groups, keep):
            if isinstance(lr, torch.Tensor):
                lr.fill_(float(group["lr"]))
            group["lr"] = lr
            if "fused" in group:
                group["fused"] = fused

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
                channels_last: str = "auto", eval_batch: int | None = None, graph: str | bool = "auto",
                profile: str | None = None) -> Engine:
    """The engine for ``device`` (a resolved ``torch.device``) and a run of ``profile``; ``auto`` choices
    as in the module notes (``profile`` None: as for the smoke profile, fp32 on a CPU)."""
    if precision not in PRECISIONS:
        raise LtError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if isinstance(compile, bool):
        compile = "on" if compile else "off"
    if compile not in COMPILE:
        raise LtError(f"unknown compile setting {compile!r}; choose one of {', '.join(COMPILE)}")
    cuda = device.type == "cuda"
    native_cpu_bf16 = not cuda and profile in BF16_PROFILES and cpu_has_fast_bf16()
    if precision == "auto":
        precision = "bf16" if (cuda and torch.cuda.is_bf16_supported()) or native_cpu_bf16 else "fp32"
    if channels_last not in CHANNELS_LAST:
        raise LtError(f"unknown channels_last setting {channels_last!r}; choose one of {', '.join(CHANNELS_LAST)}")
    if channels_last == "auto":
        channels_last = "on" if cuda or (native_cpu_bf16 and precision == "bf16") else "eval"
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
