"""How long a run takes: ONE estimate (``run_estimate``) from the recorded runs' provenance (training
images/s and evaluation time of the same experiment, else of runs alike, on the same kind of device),
else from a short measurement of the config's step here, which then says so with the machine's load."""
from __future__ import annotations

import os
import time

import torch

from ..learn import data as D
from ..learn.augment import Augmenter
from ..learn.experiments import TrainConfig
from .loop import train_epoch
from .results import ResultsStore
from .step import TrainStep

_IPS_CACHE: dict = {}
EVAL_SPEEDUP = 3.0  # evaluation images/s over training images/s, measured on a 2-core CPU (bench)


def measure_images_per_second(cfg: TrainConfig, device="cpu", steps: int = 3) -> float:
    """Training images/s of this config's model, loss and augmentation on ``device`` (the trainer's
    eager step on ``steps`` batches of random images after one warm-up batch)."""
    from .engine import make_engine
    from .train import build_loss, build_model, resolve_device

    dev = resolve_device(device)
    key = (cfg.widths, cfg.head, cfg.branch_style, cfg.loss, cfg.early_exits, cfg.exit_head, cfg.criterion,
           cfg.autoaugment, cfg.mixup, cfg.batch_size, str(dev), torch.get_num_threads(), steps)
    if key not in _IPS_CACHE:
        g = torch.Generator().manual_seed(0)
        engine = make_engine(dev, compile="off", graph="off", profile=cfg.profile)
        n = cfg.batch_size * (steps + 1)
        data = D.LongTailedCIFAR10(
            train_x=torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g).to(dev),
            train_y=torch.randint(0, D.NUM_CLASSES, (n,), generator=g).to(dev),
            test_x=torch.zeros(0, 3, 32, 32, dtype=torch.uint8, device=dev),
            test_y=torch.zeros(0, dtype=torch.long, device=dev),
            counts=D.long_tail_counts(cfg.imbalance), imbalance=cfg.imbalance, source="random")
        model = build_model(cfg).to(dev, memory_format=engine.memory_format)
        augmenter = Augmenter(autoaugment=cfg.autoaugment)
        step = TrainStep(model, model, build_loss(cfg, data.counts).to(dev),
                         engine.optimizer(model.parameters(), lr=1e-3, momentum=0.9), cfg, engine, data, augmenter,
                         3 if cfg.early_exits else 1)
        train_epoch(step, cfg, data, g, augmenter, max_batches=1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train_epoch(step, cfg, data, g, augmenter, max_batches=steps)
        _IPS_CACHE[key] = steps * cfg.batch_size / (time.perf_counter() - t0)
    return _IPS_CACHE[key]


def _sizes(cfg: TrainConfig) -> tuple[int, int, int]:
    """(training images per epoch, test images, evaluations) of a run."""
    n_max, n_test = (cfg.synthetic_sizes if cfg.source == "synthetic" else (5000, 1000))
    n_train = sum(D.long_tail_counts(cfg.imbalance, n_max=n_max))
    if cfg.drop_last:
        n_train -= n_train % cfg.batch_size
    evals = cfg.epochs // cfg.eval_every + (cfg.epochs % cfg.eval_every > 0)
    return n_train, 10 * n_test, evals


def load_note() -> str:
    """'load average 1.93 on 2 cores': what a measurement made now competes with."""
    try:
        return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return "load unknown"


def duration(seconds: float) -> str:
    """How every estimate is printed: '39 min', or '2.2 h' from 90 minutes on."""
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def estimate_seconds(cfg: TrainConfig, device="cpu", eval_speedup: float = EVAL_SPEEDUP, steps: int = 3) -> float:
    """Seconds of a run of ``cfg`` from a measurement of ``steps`` of its steps here (``bench``'s projection)."""
    ips = measure_images_per_second(cfg, device, steps)
    n_train, n_test, evals = _sizes(cfg)
    return cfg.epochs * n_train / ips + evals * n_test / (eval_speedup * ips)


def relative_cost(cfg: TrainConfig, device=None) -> tuple[float, str]:
    """A cost for ordering runs without measuring anything (a lease cannot spend its budget timing
    configs): training images x epochs, x1.5 with early exits, x2 with AutoAugment or Mixup."""
    n_train, _, _ = _sizes(cfg)
    factor = (1.5 if cfg.early_exits else 1.0) * (2.0 if cfg.autoaugment or cfg.mixup else 1.0)
    return cfg.epochs * n_train * factor, "relative"


def one_kind(provenance: dict) -> bool:
    """Whether a run trained on one kind of machine throughout: never resumed, or resumed with every
    stretch (``segments``) on the same device, engine and CPU. A resumed run that records no stretches
    (made before they were recorded) cannot say, and does not count."""
    if not provenance.get("resumed_at_epochs"):
        return True
    segments = provenance.get("segments") or []
    kinds = {(s.get("device"), repr(sorted((s.get("engine") or {}).items())), repr(s.get("cpu"))) for s in segments}
    return len(segments) > 1 and len(kinds) == 1


def recorded(stores) -> list[dict]:
    """Every stored finished run's speed: experiment, profile, device kind (cpu/cuda), device, precision,
    training images/s, seconds per evaluation, whether it has exits and heavy augmentation, and whether
    it trained on real data (a smoke run's images/s on 128-image classes in batches of 32 says nothing
    about a real run). A resumed run counts when every stretch of it trained alike (``one_kind``); one
    whose stretches differ in threads, engine or CPU is left out (its speed is a mix)."""
    out = []
    for store in stores:
        for s in ResultsStore(store).summaries(problems=[]):
            prov, cfg = s.get("provenance") or {}, s.get("config") or {}
            ips, device = prov.get("train_images_per_second"), prov.get("device") or ""
            if not ips or s.get("status") not in ("completed", "diverged") or not one_kind(prov):
                continue
            kind = device.split(":", 1)[0]
            n_train = (s.get("data") or {}).get("train_images") or 0
            epochs = s.get("epochs_completed") or 0
            eval_every = cfg.get("eval_every", 1) or 1
            evals = epochs // eval_every + (epochs % eval_every > 0)
            eval_s = max(0.0, prov.get("wall_seconds", 0) - epochs * n_train / ips) / max(evals, 1)
            engine = prov.get("engine") or {}
            out.append({"experiment": s["experiment"], "profile": s.get("profile"), "kind": kind, "device": device,
                        "precision": engine.get("precision") or ("bf16" if kind == "cuda" else "fp32"),
                        "real": cfg.get("source", "cifar10") == "cifar10",
                        "ips": ips, "eval_s": eval_s, "run_id": s["run_id"],
                        "heavy": (bool(cfg.get("early_exits")), bool(cfg.get("autoaugment") or cfg.get("mixup")))})
    return out


def default_precision(kind: str, profile: str | None = None) -> str:
    """The precision ``make_engine``'s ``auto`` gives a run of ``profile`` on a ``kind`` device (a CPU:
    this one, whose bf16 flags decide)."""
    from .engine import BF16_PROFILES, cpu_has_fast_bf16

    if kind == "cuda":
        return "bf16"
    return "bf16" if profile in BF16_PROFILES and cpu_has_fast_bf16() else "fp32"


def run_estimate(cfg: TrainConfig, kind: str, speeds: list[dict], precision: str | None = None,
                 measure_on=None) -> tuple[float | None, str]:
    """(seconds, basis) of a run of ``cfg`` on a ``kind`` device ("cpu" or "cuda"): THE estimate, which the
    dry run, ``report``'s closing summary and the notebooks' how-to-run boxes all print.

    From the recorded runs (``recorded``) on such a device, of the same precision when given, on the
    same kind of data (real data for quick and full runs, never a smoke run's): the same experiment
    (the same profile preferred; the median images/s and seconds per evaluation of its records), else
    the median of runs alike in exits and augmentation. Where nothing is recorded: a measurement of
    the step on ``measure_on`` (a device) when given, saying so with the load it ran under, else
    (None, why)."""
    import statistics

    n_train, _, evals = _sizes(cfg)
    real = cfg.source == "cifar10"
    mine = [s for s in speeds if s["kind"] == kind and s["real"] == real
            and (precision is None or s["precision"] == precision)]
    same = [s for s in mine if s["experiment"] == cfg.experiment]
    same = [s for s in same if s["profile"] == cfg.profile] or same
    heavy = (cfg.early_exits, cfg.autoaugment or cfg.mixup)
    pool, label = (same, None) if same else ([s for s in mine if s["heavy"] == heavy], "similar")
    if pool:
        ips = statistics.median(s["ips"] for s in pool)
        eval_s = statistics.median(s["eval_s"] for s in pool)
        basis = (", ".join(sorted({s["run_id"] for s in pool})) if label is None else
                 f"median of {len(pool)} similar recorded runs")
        return cfg.epochs * n_train / ips + evals * eval_s, basis
    if measure_on is not None:
        ips = measure_images_per_second(cfg, measure_on)
        n_train, n_test, evals = _sizes(cfg)
        return (cfg.epochs * n_train / ips + evals * n_test / (EVAL_SPEEDUP * ips),
                f"measured now, {load_note()}")
    return None, f"no run like it recorded on a {'GPU' if kind == 'cuda' else 'CPU'} yet"
