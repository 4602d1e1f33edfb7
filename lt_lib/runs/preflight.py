"""``python -m lt_lib preflight``: what a GPU lease would meet, checked on any machine before renting one.

For each experiment the training step is built as the CUDA path builds it (the static form a CUDA graph
captures: static input buffers, every augmentation op computed, the lr a device tensor) with every
tensor on PyTorch's ``meta`` device (shapes, no data: seconds on a CPU), and run twice under a dispatch
mode that sees every operation:

(a) no host read inside the step (``.item()``, ``.tolist()``, ``nonzero``, boolean-mask indexing, ...) and
    no host-to-device copy (a CPU tensor meeting a device one): a captured step cannot do either;
(b) no host-side value that differs between two steps made with different draws, lr and DRW weights:
    a graph would freeze such a value at its capture;
(c) after a save/resume cycle the optimizer's lr is still the engine's tensor (what the graph reads)
    and ``fused`` the engine's choice.

The optimizer's own step is PyTorch's fused SGD on CUDA (graph-safe with a tensor lr) and is left out of
(a) and (b): on ``meta`` it would take another path.
"""
from __future__ import annotations

import inspect
import io
import time
from functools import lru_cache
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..errors import LtError
from ..learn import data as D
from ..learn.augment import Augmenter
from ..learn.experiments import EXPERIMENTS, get_experiment, resolve
from .engine import Engine
from .step import TrainStep, draw

META = torch.device("meta")
# operations whose result the host must read back (data-dependent values or shapes)
HOST_READS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique", "_unique2", "unique_dim",
              "repeat_interleave", "is_nonzero", "equal", "allclose", "bincount", "item", "argwhere",
              "masked_scatter", "histc"}
THIS = Path(__file__).resolve()
HERE = THIS.parents[1]


@lru_cache(maxsize=None)
def _lt_lib_file(filename: str) -> str | None:
    """``filename`` relative to the checkout if it is an lt_lib file other than this one, else None."""
    path = Path(filename).resolve()
    return str(path.relative_to(HERE.parent)) if HERE in path.parents and path != THIS else None


def _where() -> str:
    """The innermost lt_lib line (outside this file) of the current Python stack. Asked once per operation
    of a step (thousands): frames are walked, not formatted (``traceback.extract_stack`` reads every source
    line), and each file is resolved once."""
    frame = inspect.currentframe()
    while frame is not None:
        where = _lt_lib_file(frame.f_code.co_filename)
        if where:
            return f"{where}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back
    return "outside lt_lib"


class Watch(TorchDispatchMode):
    """Records host reads, host-to-device copies and every op's host-side arguments."""

    def __init__(self):
        super().__init__()
        self.reads, self.copies, self.ops = [], [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        flat = [a for a in torch.utils._pytree.tree_leaves((args, kwargs))]
        tensors = [a for a in flat if isinstance(a, torch.Tensor)]
        devices = {t.device.type for t in tensors}
        if name in HOST_READS or (name == "index" and any(t.dtype == torch.bool for t in tensors[1:])):
            self.reads.append(f"{name} at {_where()}")
            if name == "_local_scalar_dense":  # go on with a stand-in value
                return False if tensors[0].dtype == torch.bool else 0
        target = kwargs.get("device")
        if ("cpu" in devices and (devices - {"cpu"} or (target is not None and torch.device(target).type != "cpu"))):
            self.copies.append(f"{name} at {_where()}")
            args, kwargs = torch.utils._pytree.tree_map(
                lambda a: a.to(META) if isinstance(a, torch.Tensor) and a.device.type == "cpu" else a, (args, kwargs))
        if not name.startswith("_record_function"):  # the profiler's markers (zero_grad's): no computation
            self.ops.append((name, tuple(repr(a) for a in flat if not isinstance(a, torch.Tensor)), _where()))
        return func(*args, **kwargs)


def _meta_data(cfg) -> D.LongTailedCIFAR10:
    counts = D.long_tail_counts(cfg.imbalance)
    n = sum(counts)
    return D.LongTailedCIFAR10(
        train_x=torch.empty(n, 3, 32, 32, dtype=torch.uint8, device=META),
        train_y=torch.empty(n, dtype=torch.long, device=META),
        test_x=torch.empty(0, 3, 32, 32, dtype=torch.uint8, device=META),
        test_y=torch.empty(0, dtype=torch.long, device=META), counts=counts, imbalance=cfg.imbalance, source="meta")


def cuda_like_engine(device=META) -> Engine:
    """The CUDA engine's choices on another device: channels_last, a captured step (the lr a tensor);
    fp32 (autocast is per device type and changes no host interaction)."""
    return Engine(device, "fp32", False, True, True, 5000, graph=True)


def _traced_steps(cfg) -> tuple[Watch, Watch]:
    from .train import build_loss, build_model

    eng = cuda_like_engine()
    data = _meta_data(cfg)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(META, memory_format=eng.memory_format)
    criterion = build_loss(cfg, data.counts).to(META)
    # SGD checks its lr on the host when made (a meta tensor cannot answer): made with a float, then given
    # the device tensor a captured step's lr is
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                nesterov=cfg.nesterov)
    for group in optimizer.param_groups:
        group["lr"] = torch.tensor(cfg.lr, device=META)
    optimizer.step = lambda *a, **k: None  # PyTorch's fused SGD on CUDA (see the module notes)
    augmenter = Augmenter(autoaugment=cfg.autoaugment)
    step = TrainStep(model, model, criterion, optimizer, cfg, eng, data, augmenter, 3 if cfg.early_exits else 1)
    step.static = True
    weights = {"ones": torch.ones(D.NUM_CLASSES, device=META), "drw": torch.empty(D.NUM_CLASSES, device=META)}
    watches = []
    # a warm-up step first, as the CUDA path takes three before it captures (one-time set-up, such as a
    # device's constant tables, happens there), then the two compared steps
    for seed, lr, weight in ((2, cfg.lr, "ones"), (0, cfg.lr, "ones"), (1, cfg.lr * 0.01, "drw")):
        g = torch.Generator().manual_seed(seed)
        static_draws = {k: v.to(META) for k, v in draw(cfg, augmenter, cfg.batch_size, g).items()}
        idx = torch.empty(cfg.batch_size, dtype=torch.long, device=META)
        eng.set_lr(optimizer, lr)
        with Watch() as watch:
            step(idx, static_draws, weights[weight])
        watches.append(watch)
    return watches[1], watches[2]


def _resume_binds_the_lr(cfg) -> str | None:
    """(c) on the CPU: a captured-step engine's optimizer, saved and loaded as a resume does."""
    from .train import build_model

    eng = Engine(torch.device("cpu"), "fp32", False, False, False, 500, graph=True)
    model = build_model(cfg)
    opt = eng.optimizer(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                        nesterov=cfg.nesterov)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    again = eng.optimizer(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          nesterov=cfg.nesterov)
    bound = [g["lr"] for g in again.param_groups]
    fused = [g.get("fused") for g in again.param_groups]
    eng.load_optimizer_state(again, torch.load(buf, map_location="cpu", weights_only=True))
    if any(g["lr"] is not lr for g, lr in zip(again.param_groups, bound)):
        return "after a resume the optimizer's lr is not the engine's tensor (set_lr would change nothing)"
    if [g.get("fused") for g in again.param_groups] != fused:
        return "after a resume the optimizer's fused flag is the saving machine's"
    return None


def check(name: str, profile: str = "full") -> dict:
    """One experiment's preflight: {experiment, ok, problems, seconds}."""
    t0 = time.perf_counter()
    exp = get_experiment(name)
    cfg = resolve(name, exp.ratios[0], profile)
    problems = []
    try:
        first, second = _traced_steps(cfg)
    except Exception as exc:  # noqa: BLE001 - a step that cannot even be traced is a finding
        problems.append(f"the static step does not run on meta tensors ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:120] if str(exc) else ''})")
    else:
        if first.reads:
            problems.append(f"(a) {len(first.reads)} host read(s) in the step, first: {first.reads[0]}")
        if first.copies:
            problems.append(f"(a) {len(first.copies)} host-to-device copy(ies) in the step, first: {first.copies[0]}")
        if len(first.ops) != len(second.ops):
            problems.append(f"(b) two steps run {len(first.ops)} and {len(second.ops)} operations: the step's "
                            "operations depend on host values")
        else:
            frozen = [(a, b) for a, b in zip(first.ops, second.ops) if a[:2] != b[:2]]
            if frozen:
                (op, args, where), (_, other, _) = frozen[0]
                problems.append(f"(b) {len(frozen)} host-side value(s) differ between two steps, first: {op} "
                                f"{args} vs {other} at {where}")
    resume = _resume_binds_the_lr(cfg)
    if resume:
        problems.append(f"(c) {resume}")
    return {"experiment": name, "ok": not problems, "problems": problems, "seconds": time.perf_counter() - t0}


def run_preflight(experiments=None, profile: str = "full", say=print) -> list[dict]:
    """Check ``experiments`` (default: every registry entry); one line each and a summary line."""
    names = list(experiments) if experiments else list(EXPERIMENTS)
    for name in names:
        get_experiment(name)
    out = []
    for name in names:
        r = check(name, profile)
        out.append(r)
        say(f"{'ok  ' if r['ok'] else 'FAIL'} {name:<28} {r['seconds']:5.1f} s"
            + ("" if r["ok"] else "  " + "; ".join(r["problems"])))
    failed = [r["experiment"] for r in out if not r["ok"]]
    say(f"preflight: {len(out) - len(failed)} of {len(out)} experiment(s) ready for a captured CUDA step"
        + (f"; failing: {', '.join(failed)}" if failed else ""))
    return out


def refuse_failing(names, profile: str = "full") -> None:
    """For ``lease``: one line, before any GPU time is spent, when an entry it would train fails."""
    failed = [r for r in (check(n, profile) for n in dict.fromkeys(names)) if not r["ok"]]
    if failed:
        raise LtError(f"preflight fails for {', '.join(r['experiment'] for r in failed)} ({failed[0]['problems'][0]}); "
                      "a lease would spend GPU time on an eager fallback: fix it first (python -m lt_lib preflight)")
