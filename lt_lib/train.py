"""The trainer: SGD with warm-up and step decay, periodic evaluation, divergence, checkpoints, resume.

Inside an epoch nothing is read back to the host: loss and accuracy sums, and a non-finite-loss flag,
are accumulated on the device and read once at the end of the epoch.
"""
from __future__ import annotations

import functools
import math
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm import tqdm

from . import data as D
from .augment import Augmenter
from .engine import Engine, fp32, make_engine
from .errors import LtError
from .experiments import TrainConfig
from .exits import EXIT_CONFIDENCES, EarlyExitResNet32, confidence, exit_flops, first_confident, threshold_sweep
from .losses import ExitLoss, LDAMLoss, drw_weights
from .models import ResNet32, fused_logits
from .results import ResultsStore, git_state

CHECKPOINT = "checkpoint.pt"
FINAL_WEIGHTS = "final.pt"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise LtError(f"unknown device {device!r}; use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LtError(f"device {device!r} asked for, but this machine has no CUDA GPU; use --device cpu")
    return dev


def build_model(cfg: TrainConfig) -> ResNet32:
    if cfg.early_exits:
        return EarlyExitResNet32(cfg.widths, head=cfg.head, exit_head=cfg.exit_head, branch_style=cfg.branch_style,
                                 head_init=cfg.head_init)
    return ResNet32(cfg.widths, head=cfg.head, branch_style=cfg.branch_style, head_init=cfg.head_init)


def build_loss(cfg: TrainConfig, counts) -> ExitLoss:
    """The loss of every model, as an ``ExitLoss``: a model without early exits is one exit, where it
    is the plain cross-entropy or ResLT loss. ``counts`` (training images per class) set LDAM's margins."""
    if cfg.criterion == "ce":
        def J(z, y):
            return torch.nn.functional.cross_entropy(z, y, reduction="none", label_smoothing=cfg.label_smoothing)
    elif cfg.criterion == "ldam":
        J = LDAMLoss(counts, cfg.ldam_max_margin, cfg.ldam_scale).per_sample
    else:
        raise LtError(f"unknown criterion {cfg.criterion!r}; choose 'ce' or 'ldam'")
    if cfg.loss not in ("ce", "reslt"):
        raise LtError(f"unknown loss {cfg.loss!r}; choose 'ce' or 'reslt'")
    if cfg.early_exits:
        reslt_exits = [cfg.exit_head == "reslt"] * 2 + [cfg.head == "reslt"]
    else:
        if cfg.loss == "reslt" and cfg.head != "reslt":
            raise LtError("loss 'reslt' needs head 'reslt' (three branches)")
        reslt_exits = [cfg.loss == "reslt"]
    medium_tail, tail = cfg.branch_classes
    if cfg.exit_confidence not in EXIT_CONFIDENCES:
        raise LtError(f"unknown exit_confidence {cfg.exit_confidence!r}; choose one of {', '.join(EXIT_CONFIDENCES)}")
    return ExitLoss(J, reslt_exits, cfg.aggregation, cfg.train_threshold, cfg.alpha, medium_tail, tail,
                    cfg.branch_norm, cfg.simulated, confidence_scale=cfg.confidence_scale)


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """lr of 0-based ``epoch``: warm-up base * (w0 (1 - f) + f), f = (e + 1) / W, for e < W (w0 =
    ``warmup_from``: 0 in LDAM-DRW and the report, 1/3 in the official ResLT code), then x gamma at
    each milestone."""
    if epoch < cfg.warmup_epochs:
        f = (epoch + 1) / cfg.warmup_epochs
        return cfg.lr * (cfg.warmup_from * (1 - f) + f)
    return cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.milestones)


@functools.lru_cache(maxsize=4)
def _arrays(source: str, data_root: str | None, synthetic_sizes: tuple):
    if source == "synthetic":
        return D.synthetic_cifar10(*synthetic_sizes)
    if source == "cifar10":
        return D.load_cifar10(data_root)
    raise LtError(f"unknown data source {source!r}; choose 'cifar10' or 'synthetic'")


def load_data(cfg: TrainConfig, device="cpu", data_root=None) -> D.LongTailedCIFAR10:
    """The run's long-tailed set on ``device`` (the decoded arrays are cached per process)."""
    root = str(data_root) if data_root is not None else None
    return D.make_long_tailed(_arrays(cfg.source, root, tuple(cfg.synthetic_sizes)), cfg.imbalance, device)


@torch.no_grad()
def evaluate(model, data: D.LongTailedCIFAR10, normalize: bool = False, engine: Engine | None = None,
             inference_threshold: float = 0.5, forward=None, confidence_scale: float = 1.0) -> dict:
    """Test accuracy (percent): overall, many/medium/few (report splits), per class, predicted-class counts.

    For an early-exit model every test image is judged at the exit the inference rule sends it to;
    ``exits`` then holds the fraction leaving at each exit, the accuracy of those, and the (K, N)
    confidences and predictions of every exit (for post-hoc threshold sweeps). ``engine`` sets the
    batch size, memory format and precision (default: the device's engine); ``forward`` replaces
    ``model(x)`` (a compiled forward); ``confidence_scale`` multiplies the logits before the softmax
    that judges an exit's confidence (``TrainConfig.confidence_scale``).
    """
    engine = engine or make_engine(data.device)
    forward = forward or model
    was_training = model.training
    model.eval()
    confs, preds = [], []
    for x, _ in D.test_batches(data, engine.eval_batch, normalize, engine.eval_memory_format):
        with engine.autocast():
            outputs = forward(x)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        c, p = zip(*(confidence(o, confidence_scale) for o in outputs))
        confs.append(torch.stack(c))
        preds.append(torch.stack(p))
    model.train(was_training)
    confs, preds, y = torch.cat(confs, 1), torch.cat(preds, 1), data.test_y
    exit_idx = first_confident(confs.clone(), inference_threshold)
    pred = preds.gather(0, exit_idx[None])[0]
    hit = pred == y
    correct = torch.bincount(y[hit], minlength=D.NUM_CLASSES).tolist()
    total = torch.bincount(y, minlength=D.NUM_CLASSES).tolist()

    def acc(classes):
        n = sum(total[c] for c in classes)
        return 100.0 * sum(correct[c] for c in classes) / n if n else float("nan")

    out = {"overall": acc(range(D.NUM_CLASSES))}
    out.update({name: acc(classes) for name, classes in D.SPLITS.items()})
    out["per_class"] = [acc([c]) for c in range(D.NUM_CLASSES)]
    out["predicted_counts"] = torch.bincount(pred, minlength=D.NUM_CLASSES).tolist()
    if len(confs) > 1:
        k = len(confs)
        leaving = torch.bincount(exit_idx, minlength=k)
        right = torch.bincount(exit_idx[hit], minlength=k)
        out["exits"] = {
            "fraction": (leaving.double() / len(y)).tolist(),
            "accuracy": [100.0 * r / n if n else None for r, n in zip(right.tolist(), leaving.tolist())],
            "confidences": confs, "predictions": preds,
        }
    return out


class DivergenceMonitor:
    """Stops a run on a non-finite training loss, or on collapse: ``patience`` evaluations in a row in
    which the whole test set is predicted as one and the same class, after the model had once predicted
    more than one class (so an untrained start is not a collapse). The report's Model 4 "CRASHED" is
    such a collapse: 10.00% test accuracy from epoch 111 on."""

    def __init__(self, patience: int = 3):
        self.patience, self.streak, self.first_epoch, self.cls, self.learned = patience, 0, None, None, False

    def state(self) -> dict:
        return {"streak": self.streak, "first_epoch": self.first_epoch, "cls": self.cls, "learned": self.learned}

    def load(self, state: dict) -> None:
        self.streak, self.first_epoch = state["streak"], state["first_epoch"]
        self.cls, self.learned = state["cls"], state["learned"]

    def after_epoch(self, epoch: int, loss_finite: bool) -> dict | None:
        if not loss_finite:
            return {"epoch": epoch, "reason": "non-finite training loss"}
        return None

    def after_eval(self, epoch: int, predicted_counts: list[int]) -> dict | None:
        single = max(predicted_counts) == sum(predicted_counts)
        cls = predicted_counts.index(max(predicted_counts))
        if not single:
            self.learned, self.streak, self.first_epoch, self.cls = True, 0, None, None
            return None
        if not self.learned:
            return None
        if self.streak and cls == self.cls:
            self.streak += 1
        else:
            self.streak, self.first_epoch, self.cls = 1, epoch, cls
        if self.streak >= self.patience:
            return {"epoch": self.first_epoch,
                    "reason": f"collapse: every test image predicted as class {cls} in {self.streak} "
                              "evaluations in a row"}
        return None


def sample_beta(a: float, generator: torch.Generator) -> float:
    """One draw of Beta(a, a) from a CPU generator (Beta(1, 1) is uniform)."""
    if a == 1.0:
        return torch.rand((), generator=generator).item()
    g = torch._standard_gamma(torch.full((2,), float(a)), generator=generator)
    return (g[0] / g.sum()).item()


def train_epoch(model, criterion, optimizer, data: D.LongTailedCIFAR10, cfg: TrainConfig, generator, augmenter,
                engine: Engine | None = None, on_step=None, class_weight=None, forward=None,
                max_batches: int | None = None, batches=None) -> dict:
    """One pass over the training set. Loss, accuracy and exit counts stay on the device until the
    end: one host sync per epoch. The loss is NaN when any step's loss was not finite. Training
    accuracy counts each image at the exit the training rule sent it to (against the dominant label
    under Mixup); ``train_exit_k`` is the fraction of images that left at exit k. ``engine`` sets the
    memory format and precision (default: the device's engine), ``forward`` replaces ``model(x)``,
    ``max_batches`` stops early and ``batches`` replaces the augmented epoch by given (x, y) batches
    (benchmarks; the means are then over the images seen)."""
    dev = data.device
    engine = engine or make_engine(dev)
    forward = forward or model
    model.train()
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), dtype=torch.long, device=dev)
    finite = torch.ones((), dtype=torch.bool, device=dev)
    exit_counts, n = None, 0
    if batches is None:
        batches = D.train_batches(data, cfg.batch_size, generator, augmenter, cfg.normalize, engine.memory_format,
                                  cfg.drop_last)
    for step, (x, y) in enumerate(batches):
        if max_batches is not None and step >= max_batches:
            break
        mix, target = None, y
        if cfg.mixup:  # Mixup: one lam per batch, partners by a permutation
            lam = sample_beta(cfg.mixup_alpha, generator)
            perm = torch.randperm(len(y), generator=generator).to(dev, non_blocking=True)
            x = lam * x + (1 - lam) * x[perm]
            mix = (y[perm], lam)
            target = y if lam >= 0.5 else y[perm]
        with engine.autocast():
            outputs = forward(x)
        outputs = [fp32(o) for o in (outputs if isinstance(outputs, list) else [outputs])]
        loss, exit_idx = criterion(outputs, y, class_weight, mix)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        loss = loss.detach()
        finite &= torch.isfinite(loss)
        loss_sum += loss * len(y)
        n += len(y)
        with torch.no_grad():
            preds = torch.stack([fused_logits(o).argmax(1) for o in outputs])
            correct += (preds.gather(0, exit_idx[None])[0] == target).sum()
            # (not bincount: on CUDA it reads the maximum back to the host)
            counts = (exit_idx[None] == torch.arange(len(outputs), device=dev)[:, None]).sum(1)
            exit_counts = counts if exit_counts is None else exit_counts + counts
        if on_step is not None:
            on_step(1)
    loss_mean = torch.where(finite, loss_sum / n, torch.full_like(loss_sum, float("nan")))
    row = {"train_loss": loss_mean.item(), "train_acc": 100.0 * correct.item() / n}
    if len(exit_counts) > 1:
        row.update({f"train_exit_{k + 1}": c / n for k, c in enumerate(exit_counts.tolist())})
    return row


def _save_atomic(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def train(cfg: TrainConfig, *, device="auto", data_root=None, results_dir="results", runs_dir="runs",
          resume: bool = False, force: bool = False, quiet: bool = False, on_epoch_end=None,
          engine: dict | None = None) -> dict:
    """Train one run and write its summary; returns the summary.

    ``engine`` holds ``make_engine`` options (precision, compile, channels_last, eval_batch); they
    change speed and rounding, not the config, and are recorded in the provenance.
    A stored run with the same config is returned as it is (a cache hit). ``resume`` continues from
    ``<runs_dir>/<run_id>/checkpoint.pt``; without it an existing checkpoint is an error (never
    silently overwritten) unless ``force``. ``on_epoch_end(epoch, row)`` is called after each epoch.
    """
    dev = resolve_device(device)
    store = ResultsStore(results_dir)
    cached = store.check_writable(cfg.run_id, cfg.config_hash, force)
    if cached is not None:
        if not quiet:
            print(f"{cfg.run_id}: already in {store.path(cfg.run_id)} (same config), not retrained")
        return cached
    run_dir = Path(runs_dir) / cfg.run_id
    ckpt_path = run_dir / CHECKPOINT
    ckpt = None
    if ckpt_path.is_file():
        if resume:
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            if ckpt["config_hash"] != cfg.config_hash:
                raise LtError(f"{ckpt_path} was made with another config (hash {ckpt['config_hash']}, this one "
                              f"{cfg.config_hash}); pass --force to start over")
        elif not force:
            raise LtError(f"an unfinished run {cfg.run_id} has a checkpoint at {ckpt_path}; pass --resume to "
                          "continue it or --force to start over")

    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    data = load_data(cfg, dev, data_root)
    criterion = build_loss(cfg, data.counts).to(dev)
    class_weight = drw_weights(data.counts, cfg.drw_beta).to(dev) if cfg.drw else None
    drw_epoch = round(cfg.drw_start * cfg.epochs)
    eng = make_engine(dev, **(engine or {}))
    model = model.to(dev, memory_format=eng.memory_format)
    forward = eng.forward_fn(model)
    optimizer = eng.optimizer(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    generator = torch.Generator().manual_seed(cfg.seed)
    augmenter = Augmenter(autoaugment=cfg.autoaugment)
    monitor = DivergenceMonitor(cfg.collapse_patience)
    history, best, divergence = [], {"overall": None, "epoch": None}, None
    start_epoch, wall, train_seconds, train_images, started_at = 0, 0.0, 0.0, 0, _now()
    resumed_at = []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        monitor.load(ckpt["monitor"])
        history, best = ckpt["history"], ckpt["best"]
        start_epoch, wall = ckpt["epoch"], ckpt["wall_seconds"]
        train_seconds, train_images, started_at = ckpt["train_seconds"], ckpt["train_images"], ckpt["started_at"]
        resumed_at = ckpt.get("resumed_at", []) + [start_epoch]
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True

    steps = D.batches_per_epoch(len(data.train_y), cfg.batch_size, cfg.drop_last)
    bar = tqdm(total=cfg.epochs * steps, initial=start_epoch * steps, desc=cfg.run_id, unit="batch",
               disable=quiet, dynamic_ncols=True, mininterval=1.0)
    segment_start = time.perf_counter()
    final = None
    for epoch in range(start_epoch, cfg.epochs):
        lr = learning_rate(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        t0 = time.perf_counter()
        weight = class_weight if class_weight is not None and epoch >= drw_epoch else None
        row = {"epoch": epoch + 1, "lr": lr, **train_epoch(model, criterion, optimizer, data, cfg, generator, augmenter,
                                                           eng, bar.update, weight, forward)}
        train_seconds += time.perf_counter() - t0
        train_images += len(data.train_y)
        finite = math.isfinite(row["train_loss"])
        divergence = monitor.after_epoch(epoch + 1, finite)
        last = epoch + 1 == cfg.epochs
        if divergence or last or (epoch + 1) % cfg.eval_every == 0:
            final = evaluate(model, data, cfg.normalize, eng, cfg.inference_threshold, forward, cfg.confidence_scale)
            row.update({f"test_{k}": final[k] for k in ("overall", "many", "medium", "few")})
            if "exits" in final:
                row.update({f"test_exit_{k + 1}": f for k, f in enumerate(final["exits"]["fraction"])})
            if divergence is None:
                divergence = monitor.after_eval(epoch + 1, final["predicted_counts"])
            if best["overall"] is None or final["overall"] > best["overall"]:
                best = {"overall": final["overall"], "epoch": epoch + 1}
        postfix = {"epoch": epoch + 1, "loss": f"{row['train_loss']:.3f}", "train": f"{row['train_acc']:.1f}"}
        if "test_overall" in row:
            postfix["test"] = f"{row['test_overall']:.2f}"
        bar.set_postfix(postfix, refresh=False)
        history.append(row)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, row)
        if divergence:
            break
        if not last and (epoch + 1) % cfg.checkpoint_every == 0:
            _save_atomic({
                "epoch": epoch + 1, "config_hash": cfg.config_hash, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                "monitor": monitor.state(), "history": history, "best": best, "started_at": started_at,
                "wall_seconds": wall + time.perf_counter() - segment_start, "train_seconds": train_seconds,
                "train_images": train_images, "resumed_at": resumed_at,
            }, ckpt_path)
    bar.close()
    wall += time.perf_counter() - segment_start

    commit, dirty = git_state()
    summary = {
        "run_id": cfg.run_id, "experiment": cfg.experiment, "imbalance": cfg.imbalance, "seed": cfg.seed,
        "profile": cfg.profile, "status": "diverged" if divergence else "completed",
        "epochs_completed": history[-1]["epoch"], "divergence": divergence,
        "final": {k: final[k] for k in ("overall", "many", "medium", "few", "per_class")},
        "best": best, "config": cfg.to_dict(), "config_hash": cfg.config_hash,
        "data": {"source": data.source, "counts": data.counts, "train_images": len(data.train_y)},
        "exits": exit_summary(model, final, data, cfg) if "exits" in final else None,
        "provenance": {
            "git_commit": commit, "git_dirty": dirty, "torch": torch.__version__, "device": device_name(dev),
            "started_at": started_at, "finished_at": _now(), "wall_seconds": round(wall, 2),
            "train_images_per_second": round(train_images / train_seconds, 1) if train_seconds else None,
            "resumed_at_epochs": resumed_at, "engine": {**eng.describe(), **(
                {"compile_failed": forward.failed} if getattr(forward, "failed", None) else {})},
        },
    }
    path = store.write(summary, history, force=True)
    _save_atomic({"config_hash": cfg.config_hash, "model": model.state_dict()}, run_dir / FINAL_WEIGHTS)
    ckpt_path.unlink(missing_ok=True)
    if not quiet:
        status = summary["status"] + (f" at epoch {divergence['epoch']} ({divergence['reason']})" if divergence else "")
        print(f"{cfg.run_id}: {status}; final test accuracy {final['overall']:.2f}% "
              f"(many {final['many']:.2f}, medium {final['medium']:.2f}, few {final['few']:.2f}); wrote {path}")
    return summary


def exit_summary(model, final: dict, data: D.LongTailedCIFAR10, cfg: TrainConfig) -> dict:
    """The ``exits`` section of an early-exit run's summary: thresholds, fraction and accuracy per exit,
    expected FLOPs relative to the full network, and the post-hoc inference-threshold sweep."""
    costs = exit_flops(model)
    fraction = final["exits"]["fraction"]
    sweep = threshold_sweep(final["exits"]["confidences"], final["exits"]["predictions"], data.test_y, costs)
    best = max(sweep, key=lambda r: r["overall"])
    return {
        "train_threshold": cfg.train_threshold, "inference_threshold": cfg.inference_threshold,
        "fraction": fraction, "accuracy": final["exits"]["accuracy"],
        "flops_per_exit": costs, "flops_ratio": round(sum(f * c for f, c in zip(fraction, costs)) / costs[-1], 4),
        "sweep": sweep, "best_threshold": {**best, "selected_on": "test set"},
    }


def device_name(dev: torch.device) -> str:
    """E.g. ``cuda:NVIDIA H100 80GB HBM3`` or ``cpu:AMD EPYC x2 threads``."""
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"cpu:{model} x{torch.get_num_threads()} threads"


_IPS_CACHE: dict = {}


def measure_images_per_second(cfg: TrainConfig, device="cpu", steps: int = 3) -> float:
    """Training images/s of this config's model, loss and augmentation on ``device`` (the trainer's
    epoch loop, eager, on ``steps`` batches of random images after one warm-up batch)."""
    dev = resolve_device(device)
    key = (cfg.widths, cfg.head, cfg.branch_style, cfg.loss, cfg.early_exits, cfg.exit_head, cfg.criterion,
           cfg.autoaugment, cfg.mixup, cfg.batch_size, str(dev))
    if key not in _IPS_CACHE:
        g = torch.Generator().manual_seed(0)
        engine = make_engine(dev, compile="off")
        n = cfg.batch_size * (steps + 1)
        data = D.LongTailedCIFAR10(
            train_x=torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g).to(dev),
            train_y=torch.randint(0, D.NUM_CLASSES, (n,), generator=g).to(dev),
            test_x=torch.zeros(0, 3, 32, 32, dtype=torch.uint8, device=dev),
            test_y=torch.zeros(0, dtype=torch.long, device=dev),
            counts=D.long_tail_counts(cfg.imbalance), imbalance=cfg.imbalance, source="random")
        model = build_model(cfg).to(dev, memory_format=engine.memory_format)
        criterion, augmenter = build_loss(cfg, data.counts).to(dev), Augmenter(autoaugment=cfg.autoaugment)
        optimizer = engine.optimizer(model.parameters(), lr=1e-3, momentum=0.9)

        def epoch(batches):
            train_epoch(model, criterion, optimizer, data, cfg, g, augmenter, engine, max_batches=batches)

        epoch(1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        epoch(steps)
        _IPS_CACHE[key] = steps * cfg.batch_size / (time.perf_counter() - t0)
    return _IPS_CACHE[key]


def estimate_seconds(cfg: TrainConfig, device="cpu", eval_speedup: float = 3.0) -> float:
    """Rough wall time of a run: training at the measured images/s, evaluations at ``eval_speedup``
    times that speed (3.1 measured on a 2-core CPU)."""
    ips = measure_images_per_second(cfg, device)
    n_max, n_test = (cfg.synthetic_sizes if cfg.source == "synthetic" else (5000, 1000))
    n_train = sum(D.long_tail_counts(cfg.imbalance, n_max=n_max))
    evals = cfg.epochs // cfg.eval_every + (cfg.epochs % cfg.eval_every > 0)
    return cfg.epochs * n_train / ips + evals * 10 * n_test / (eval_speedup * ips)
