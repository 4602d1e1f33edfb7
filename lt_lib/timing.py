"""How long a run takes on this device: from a stored run of the same experiment on the same device
(its provenance: training images/s and the evaluation time), else from a short measurement of the
config's training step here. ``estimate`` says which, so a plan can show how much to trust it."""
from __future__ import annotations

import time

import torch

from . import data as D
from .augment import Augmenter
from .experiments import TrainConfig
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
           cfg.autoaugment, cfg.mixup, cfg.batch_size, str(dev), torch.get_num_threads())
    if key not in _IPS_CACHE:
        g = torch.Generator().manual_seed(0)
        engine = make_engine(dev, compile="off", graph="off")
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


def stored_speed(cfg: TrainConfig, device: str, stores) -> dict | None:
    """From the stored finished runs of ``cfg.experiment`` on ``device`` (a ``device_name``): the
    fastest one's training images/s and seconds per evaluation, with its run id."""
    found = []
    for store in stores:
        for s in ResultsStore(store).summaries(problems=[]):
            prov = s.get("provenance") or {}
            ips = prov.get("train_images_per_second")
            if s.get("experiment") != cfg.experiment or prov.get("device") != device or not ips \
                    or s.get("status") not in ("completed", "diverged") or prov.get("resumed_at_epochs"):
                continue
            try:
                from .experiments import resolve

                done = resolve(s["experiment"], s["imbalance"], s["profile"], s["seed"],
                               epochs=s["config"]["epochs"] if s["config"]["epochs"] != s["epochs_completed"] else None)
            except ValueError:
                continue
            n_train, n_test, _ = _sizes(done)
            epochs = s["epochs_completed"]
            evals = epochs // done.eval_every + (epochs % done.eval_every > 0)
            eval_s = max(0.0, prov["wall_seconds"] - epochs * n_train / ips) / max(evals, 1)
            found.append({"ips": ips, "eval_s": eval_s, "run_id": s["run_id"]})
    return max(found, key=lambda f: f["ips"]) if found else None


def estimate(cfg: TrainConfig, device="cpu", stores=("results",)) -> tuple[float, str]:
    """(seconds, basis) of a run of ``cfg`` on ``device``: from a stored run of the same experiment on
    this very device when there is one (basis: its run id), else measured images/s of its step here
    with evaluation at ``EVAL_SPEEDUP`` times that speed (basis: "measured")."""
    from .train import device_name, resolve_device

    dev = resolve_device(device)
    n_train, n_test, evals = _sizes(cfg)
    known = stored_speed(cfg, device_name(dev), stores)
    if known:
        return cfg.epochs * n_train / known["ips"] + evals * known["eval_s"], f"stored {known['run_id']}"
    ips = measure_images_per_second(cfg, dev)
    return cfg.epochs * n_train / ips + evals * n_test / (EVAL_SPEEDUP * ips), "measured"


def estimate_seconds(cfg: TrainConfig, device="cpu", eval_speedup: float = EVAL_SPEEDUP, stores=()) -> float:
    """Seconds only (``estimate``); without ``stores``, always from a measurement here."""
    if stores:
        return estimate(cfg, device, stores)[0]
    ips = measure_images_per_second(cfg, device)
    n_train, n_test, evals = _sizes(cfg)
    return cfg.epochs * n_train / ips + evals * n_test / (eval_speedup * ips)


def relative_cost(cfg: TrainConfig, device=None) -> tuple[float, str]:
    """A cost for ordering runs without measuring anything (a lease cannot spend its budget timing
    configs): training images x epochs, x1.5 with early exits, x2 with AutoAugment or Mixup."""
    n_train, _, _ = _sizes(cfg)
    factor = (1.5 if cfg.early_exits else 1.0) * (2.0 if cfg.autoaugment or cfg.mixup else 1.0)
    return cfg.epochs * n_train * factor, "relative"


def recorded(stores) -> list[dict]:
    """Every stored finished run's speed: experiment, device kind (cpu/cuda), device, training
    images/s, seconds per evaluation, whether it has exits and heavy augmentation."""
    out = []
    for store in stores:
        for s in ResultsStore(store).summaries(problems=[]):
            prov, cfg = s.get("provenance") or {}, s.get("config") or {}
            ips, device = prov.get("train_images_per_second"), prov.get("device") or ""
            if not ips or s.get("status") not in ("completed", "diverged") or prov.get("resumed_at_epochs"):
                continue
            n_train = (s.get("data") or {}).get("train_images") or 0
            epochs = s.get("epochs_completed") or 0
            eval_every = cfg.get("eval_every", 1) or 1
            evals = epochs // eval_every + (epochs % eval_every > 0)
            eval_s = max(0.0, prov.get("wall_seconds", 0) - epochs * n_train / ips) / max(evals, 1)
            out.append({"experiment": s["experiment"], "kind": device.split(":", 1)[0], "device": device,
                        "ips": ips, "eval_s": eval_s, "run_id": s["run_id"],
                        "heavy": (bool(cfg.get("early_exits")), bool(cfg.get("autoaugment") or cfg.get("mixup")))})
    return out


def recorded_estimate(cfg: TrainConfig, kind: str, speeds: list[dict]) -> tuple[float | None, str]:
    """(seconds, basis) of ``cfg`` on a ``kind`` device ("cpu" or "cuda") from recorded runs only (no
    measurement: instant): the same experiment's fastest record, else the median of runs alike in
    exits and augmentation; (None, why) when nothing was recorded on such a device."""
    import statistics

    n_train, _, evals = _sizes(cfg)
    mine = [s for s in speeds if s["kind"] == kind]
    same = [s for s in mine if s["experiment"] == cfg.experiment]
    if same:
        s = max(same, key=lambda s: s["ips"])
        return cfg.epochs * n_train / s["ips"] + evals * s["eval_s"], f"{s['run_id']} ({s['device']})"
    heavy = (cfg.early_exits, cfg.autoaugment or cfg.mixup)
    alike = [s for s in mine if s["heavy"] == heavy]
    if alike:
        ips = statistics.median(s["ips"] for s in alike)
        eval_s = statistics.median(s["eval_s"] for s in alike)
        return cfg.epochs * n_train / ips + evals * eval_s, f"median of {len(alike)} similar recorded runs"
    return None, f"no run like it recorded on a {'GPU' if kind == 'cuda' else 'CPU'} yet"
