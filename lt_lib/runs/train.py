"""A run's bookkeeping: what is trained (model, loss, data), the stored-run check, the lock, checkpoints
and resume, and the summary with its provenance. The step lives in ``step``, the epoch loop in ``loop``.

``Run(cfg, ...).steps()`` is the whole run as a generator that yields after every training step and
returns the summary: ``train`` drives one to the end; ``parallel.train_packed`` drives several at
once on one GPU; a lease stops one between two steps by throwing ``StopRun`` into it, and the run then
checkpoints the state it had at the start of that epoch (kept in memory for this) and returns.
"""
from __future__ import annotations

import copy
import functools
import math
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import LtError
from ..learn import data as D
from ..learn.augment import Augmenter
from ..learn.exits import EXIT_CONFIDENCES, EarlyExitResNet32
from ..learn.experiments import TrainConfig
from ..learn.losses import ExitLoss, LDAMLoss, PerSample, drw_weights
from ..learn.models import ResNet32
from .engine import cpu_info, make_engine
from .loop import (
    DivergenceMonitor,
    drive,
    epoch_steps,
    evaluate,
    exit_summary,
    learning_rate,
)
from .results import (
    PREDICTIONS,
    ResultsStore,
    atomic_write,
    damaged,
    ensure_writable,
    git_state,
    run_lock,
)
from .step import TrainStep, as_run

CHECKPOINT = "checkpoint.pt"
# besides every ``checkpoint_every`` epochs (a config setting), a run checkpoints at the end of any epoch
# when this much wall time has passed since its last checkpoint: a stopped CPU run (50 s an epoch) then
# loses a few epochs, not up to ten; where epochs take seconds it changes nothing
CHECKPOINT_SECONDS = 120.0
FINAL_WEIGHTS = "final.pt"


class StopRun(Exception):
    """Thrown into a run's generator to stop it between two steps (a lease running out of time)."""


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
    is the plain cross-entropy, LDAM or ResLT loss. ``counts`` (training images per class) set LDAM's margins."""
    if cfg.criterion == "ce":
        J = PerSample("ce", cfg.label_smoothing)
    elif cfg.criterion == "ldam":
        J = PerSample("ldam", ldam=LDAMLoss(counts, cfg.ldam_max_margin, cfg.ldam_scale))
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


@functools.lru_cache(maxsize=4)
def _arrays(source: str, data_root: str | None, synthetic_sizes: tuple):
    if source == "synthetic":
        return D.synthetic_cifar10(*synthetic_sizes)
    if source == "cifar10":
        return D.load_cifar10(data_root)
    raise LtError(f"unknown data source {source!r}; choose 'cifar10' or 'synthetic'")


@functools.lru_cache(maxsize=8)
def _long_tailed(source: str, data_root: str | None, synthetic_sizes: tuple, imbalance: float, device: str):
    return D.make_long_tailed(_arrays(source, data_root, synthetic_sizes), imbalance, device)


def load_data(cfg: TrainConfig, device="cpu", data_root=None) -> D.LongTailedCIFAR10:
    """The run's long-tailed set on ``device``; decoded arrays and device copies are cached per process,
    so runs of one ratio in one process share one copy (read-only: nothing writes to it)."""
    root = str(data_root) if data_root is not None else None
    return _long_tailed(cfg.source, root, tuple(cfg.synthetic_sizes), float(cfg.imbalance), str(torch.device(device)))


def save_atomic(obj, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_checkpoint(path: Path, config_hash: str) -> dict:
    """A run's checkpoint, checked: made by this config, complete and readable."""
    fix = "delete it to start the run over (or pass --force)"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("epoch", "config_hash", "model", "optimizer", "generator", "monitor", "history", "best"):
            ckpt[key]
    except (OSError, RuntimeError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise damaged(path, exc, fix) from None
    if ckpt["config_hash"] != config_hash:
        raise LtError(f"{path} was made with another config (hash {ckpt['config_hash']}, this one "
                      f"{config_hash}); pass --force to start over")
    return ckpt


def load_weights(path: Path, device="cpu") -> dict:
    """The model weights of a finished run (``final.pt``)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)["model"]
    except (OSError, RuntimeError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise damaged(path, exc, "delete it; train the run again (--force) to make it anew") from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


class Run:
    """One training run. ``steps()`` yields after every step and returns the summary (a stored run
    with the same config is returned at once, a cache hit). Options as ``train``'s."""

    def __init__(self, cfg: TrainConfig, *, device="auto", data_root=None, results_dir="results", runs_dir="runs",
                 resume: bool = False, force: bool = False, quiet: bool = False, on_epoch_end=None,
                 engine: dict | None = None, stoppable: bool = False, launcher: dict | None = None,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS):
        self.cfg, self.device, self.data_root = cfg, device, data_root
        self.checkpoint_seconds = checkpoint_seconds
        self.store, self.runs_dir = ResultsStore(results_dir), Path(runs_dir)
        self.resume, self.force, self.quiet, self.on_epoch_end = resume, force, quiet, on_epoch_end
        self.engine_options, self.stoppable, self.launcher = engine or {}, stoppable, launcher
        self.epoch_seconds: list[float] = []  # measured, for a lease's plan

    @property
    def checkpoint_path(self) -> Path:
        return self.runs_dir / self.cfg.run_id / CHECKPOINT

    def steps(self):
        cfg = self.cfg
        dev = resolve_device(self.device)
        if not self.force:
            moved = self.store.keep_old_setting(cfg.run_id, cfg.to_dict())
            if moved is not None:
                print(f"{cfg.run_id}: the stored run was made under an older setting of {cfg.experiment}; "
                      f"it stays readable as {moved}")
        cached = self.store.check_writable(cfg.run_id, cfg.config_hash, self.force)
        if cached is not None:
            if not self.quiet:
                print(f"{cfg.run_id}: already in {self.store.path(cfg.run_id)} (same config), not retrained")
            return cached
        ensure_writable(self.store.root, "results", "--results")
        ensure_writable(self.runs_dir, "checkpoints and weights", "--runs")
        with run_lock(self.runs_dir, cfg.run_id):
            return (yield from self._train(dev))

    def _train(self, dev):
        cfg = self.cfg
        ckpt_path = self.checkpoint_path
        ckpt = None
        if ckpt_path.is_file():
            if self.resume:
                ckpt = load_checkpoint(ckpt_path, cfg.config_hash)
            elif not self.force:
                raise LtError(f"an unfinished run {cfg.run_id} has a checkpoint at {ckpt_path}; pass --resume to "
                              "continue it or --force to start over")

        torch.manual_seed(cfg.seed)
        model = build_model(cfg)
        data = load_data(cfg, dev, self.data_root)
        criterion = build_loss(cfg, data.counts).to(dev)
        class_weight = drw_weights(data.counts, cfg.drw_beta).to(dev) if cfg.drw else None
        drw_epoch = round(cfg.drw_start * cfg.epochs)
        eng = make_engine(dev, profile=cfg.profile, **self.engine_options)
        model = model.to(dev, memory_format=eng.memory_format)
        forward = eng.forward_fn(model)
        optimizer = eng.optimizer(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
        generator = torch.Generator().manual_seed(cfg.seed)
        augmenter = Augmenter(autoaugment=cfg.autoaugment)
        num_exits = 3 if cfg.early_exits else 1
        step = as_run(TrainStep(model, forward, criterion, optimizer, cfg, eng, data, augmenter, num_exits), eng)
        monitor = DivergenceMonitor(cfg.collapse_patience)
        commit, dirty = git_state()  # the code this process loaded, read now (the tree may change while it trains)
        segment = {"from_epoch": 0, "git_commit": commit, "git_dirty": dirty, "started_at": _now(),
                   "device": device_name(dev), "engine": eng.describe(),
                   **({"cpu": cpu_info()} if dev.type == "cpu" else {})}
        state = {"history": [], "best": {"overall": None, "epoch": None}, "epoch": 0, "wall_seconds": 0.0,
                 "train_seconds": 0.0, "train_images": 0, "started_at": _now(), "resumed_at": [],
                 "segments": [segment]}
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            eng.load_optimizer_state(optimizer, ckpt["optimizer"])
            generator.set_state(ckpt["generator"])
            monitor.load(ckpt["monitor"])
            state.update({k: ckpt[k] for k in ("history", "best", "epoch", "wall_seconds", "train_seconds",
                                                "train_images", "started_at")})
            state["resumed_at"] = ckpt.get("resumed_at", []) + [ckpt["epoch"]]
            state["segments"] = ckpt.get("segments", []) + [{**segment, "from_epoch": ckpt["epoch"]}]
        # cudnn.benchmark stays off: it lets the convolution algorithm, and so the result, vary from run to run

        def checkpoint() -> dict:
            return {"epoch": state["epoch"], "config_hash": cfg.config_hash, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                    "monitor": monitor.state(), "history": list(state["history"]), "best": dict(state["best"]),
                    "started_at": state["started_at"], "train_seconds": state["train_seconds"],
                    "train_images": state["train_images"], "resumed_at": state["resumed_at"],
                    "segments": state["segments"],
                    "wall_seconds": state["wall_seconds"] + time.perf_counter() - segment_start}

        steps = D.batches_per_epoch(len(data.train_y), cfg.batch_size, cfg.drop_last)
        bar = tqdm(total=cfg.epochs * steps, initial=state["epoch"] * steps, desc=cfg.run_id, unit="batch",
                   disable=self.quiet, dynamic_ncols=True, mininterval=1.0)
        segment_start = last_save = time.perf_counter()
        final, divergence = None, None
        try:
            for epoch in range(state["epoch"], cfg.epochs):
                # the state this epoch starts from: what a stopped lease checkpoints (a device copy, no sync)
                snapshot = copy.deepcopy(checkpoint()) if self.stoppable else None
                eng.set_lr(optimizer, learning_rate(cfg, epoch))
                t0 = time.perf_counter()
                weight = class_weight if class_weight is not None and epoch >= drw_epoch else None
                try:
                    stats = yield from epoch_steps(step, cfg, data, generator, augmenter, weight, bar.update)
                except StopRun:
                    if snapshot is not None:
                        snapshot["wall_seconds"] = state["wall_seconds"] + time.perf_counter() - segment_start
                        save_atomic(snapshot, ckpt_path)
                    bar.close()
                    return {"run_id": cfg.run_id, "status": "paused", "epochs_completed": epoch,
                            "checkpoint": str(ckpt_path)}
                row = {"epoch": epoch + 1, "lr": learning_rate(cfg, epoch), **stats}
                self.epoch_seconds.append(time.perf_counter() - t0)
                state["train_seconds"] += self.epoch_seconds[-1]
                state["train_images"] += min(len(data.train_y), steps * cfg.batch_size)
                divergence = monitor.after_epoch(epoch + 1, math.isfinite(row["train_loss"]))
                last = epoch + 1 == cfg.epochs
                if divergence or last or (epoch + 1) % cfg.eval_every == 0:
                    final = evaluate(model, data, cfg.normalize, eng, cfg.inference_threshold, forward,
                                     cfg.confidence_scale, keep_logits=bool(divergence) or last)
                    row.update({f"test_{k}": final[k] for k in ("overall", "many", "medium", "few")})
                    if "exits" in final:
                        row.update({f"test_exit_{k + 1}": f for k, f in enumerate(final["exits"]["fraction"])})
                    if divergence is None:
                        divergence = monitor.after_eval(epoch + 1, final["predicted_counts"])
                    best = state["best"]
                    if best["overall"] is None or final["overall"] > best["overall"]:
                        state["best"] = {"overall": final["overall"], "epoch": epoch + 1}
                postfix = {"epoch": epoch + 1, "loss": f"{row['train_loss']:.3f}", "train": f"{row['train_acc']:.1f}"}
                if "test_overall" in row:
                    postfix["test"] = f"{row['test_overall']:.2f}"
                bar.set_postfix(postfix, refresh=False)
                state["history"].append(row)
                state["epoch"] = epoch + 1
                if self.on_epoch_end is not None:
                    self.on_epoch_end(epoch + 1, row)
                if divergence:
                    break
                if not last and ((epoch + 1) % cfg.checkpoint_every == 0
                                 or time.perf_counter() - last_save >= self.checkpoint_seconds):
                    save_atomic(checkpoint(), ckpt_path)
                    last_save = time.perf_counter()
        finally:
            bar.close()
        state["wall_seconds"] += time.perf_counter() - segment_start
        return self._finish(model, data, eng, forward, final, divergence, state, dev)

    def _finish(self, model, data, eng, forward, final, divergence, state, dev) -> dict:
        cfg = self.cfg
        if "predictions" not in final:  # the run ended on what this evaluation showed (a collapse): its outputs too
            final = evaluate(model, data, cfg.normalize, eng, cfg.inference_threshold, forward, cfg.confidence_scale,
                             keep_logits=True)
        code = state["segments"][-1]  # the code this process loaded when it started (or resumed) the run
        history = state["history"]
        summary = {
            "run_id": cfg.run_id, "experiment": cfg.experiment, "imbalance": cfg.imbalance, "seed": cfg.seed,
            "profile": cfg.profile, "status": "diverged" if divergence else "completed",
            "epochs_completed": history[-1]["epoch"], "divergence": divergence,
            "final": {k: final[k] for k in ("overall", "many", "medium", "few", "per_class")},
            "best": state["best"], "config": cfg.to_dict(), "config_hash": cfg.config_hash,
            "data": {"source": data.source, "counts": data.counts, "train_images": len(data.train_y)},
            "exits": exit_summary(model, final, data, cfg) if "exits" in final else None,
            "provenance": {
                "git_commit": code["git_commit"], "git_dirty": code["git_dirty"], "torch": torch.__version__,
                "device": device_name(dev), **({"cpu": cpu_info()} if dev.type == "cpu" else {}),
                "started_at": state["started_at"], "finished_at": _now(), "wall_seconds": round(state["wall_seconds"], 2),
                "train_images_per_second": round(state["train_images"] / state["train_seconds"], 1)
                if state["train_seconds"] else None,
                "resumed_at_epochs": state["resumed_at"], "engine": {**eng.describe(), **(
                    {"compile_failed": forward.failed} if getattr(forward, "failed", None) else {})},
                **({"segments": state["segments"]} if len(state["segments"]) > 1 else {}),
                **({"launcher": self.launcher} if self.launcher else {}),
            },
            "predictions": PREDICTIONS,
        }
        path = self.store.write(summary, history, force=True)
        self.store.write_predictions(cfg.run_id, final["predictions"])
        save_atomic({"config_hash": cfg.config_hash, "model": model.state_dict()},
                    self.runs_dir / cfg.run_id / FINAL_WEIGHTS)
        self.checkpoint_path.unlink(missing_ok=True)
        if not self.quiet:
            status = summary["status"] + (f" at epoch {divergence['epoch']} ({divergence['reason']})"
                                          if divergence else "")
            print(f"{cfg.run_id}: {status}; final test accuracy {final['overall']:.2f}% "
                  f"(many {final['many']:.2f}, medium {final['medium']:.2f}, few {final['few']:.2f}); wrote {path}")
        return summary


def train(cfg: TrainConfig, *, device="auto", data_root=None, results_dir="results", runs_dir="runs",
          resume: bool = False, force: bool = False, quiet: bool = False, on_epoch_end=None,
          engine: dict | None = None, launcher: dict | None = None) -> dict:
    """Train one run and write its summary; returns the summary.

    ``engine`` holds ``make_engine`` options (precision, compile, channels_last, eval_batch, graph);
    they change speed and rounding, not the config, and are recorded in the provenance. A stored run
    with the same config is returned as it is (a cache hit). ``resume`` continues from
    ``<runs_dir>/<run_id>/checkpoint.pt``; without it an existing checkpoint is an error (never
    silently overwritten) unless ``force``. Before any work the results and runs folders must be
    writable and the run's lock free (another process training it stops this one with one line).
    ``on_epoch_end(epoch, row)`` is called after each epoch.
    """
    return drive(Run(cfg, device=device, data_root=data_root, results_dir=results_dir, runs_dir=runs_dir,
                     resume=resume, force=force, quiet=quiet, on_epoch_end=on_epoch_end, engine=engine,
                     launcher=launcher).steps())


def predict_stored(run_id: str, results_dir="results", runs_dir="runs", data_root=None, force: bool = False) -> dict:
    """Make a finished run's ``predictions.npz`` from its final weights (``final.pt``), for runs that
    finished before runs stored their test outputs. The test set is evaluated with the engine the run
    recorded (precision, memory format, evaluation batch) on this CPU, and the outcome must give the
    stored final accuracy exactly (else nothing is written: one line says so). Returns what it did."""
    store = ResultsStore(results_dir)
    summary = store.read(run_id)
    if summary is None:
        raise LtError(f"no stored run {run_id} in {results_dir}")
    if store.predictions(run_id) is not None and not force:
        return {"run_id": run_id, "done": "has its predictions already"}
    cfg = TrainConfig.from_dict(summary["config"])
    weights = Path(runs_dir) / run_id / FINAL_WEIGHTS
    if not weights.is_file():
        raise LtError(f"{run_id}: no final weights at {weights}; its predictions can only come from training it "
                      "again")
    recorded = (summary.get("provenance") or {}).get("engine") or {}
    dev = torch.device("cpu")
    eng = make_engine(dev, precision=recorded.get("precision", "fp32"), compile="off", graph="off",
                      channels_last="on" if recorded.get("channels_last") else "eval"
                      if recorded.get("eval_channels_last", True) else "off",
                      eval_batch=recorded.get("eval_batch") if recorded.get("device", "cpu") == "cpu" else None)
    model = build_model(cfg).to(dev, memory_format=eng.memory_format)
    model.load_state_dict(load_weights(weights))
    data = load_data(cfg, dev, data_root)
    final = evaluate(model, data, cfg.normalize, eng, cfg.inference_threshold, None, cfg.confidence_scale,
                     keep_logits=True)
    stored = summary["final"]["overall"]
    if abs(final["overall"] - stored) > 1e-9:
        raise LtError(f"{run_id}: its final weights give {final['overall']:.2f}% here, the summary {stored:.2f}% "
                      f"(engine {eng.precision}, another CPU or thread count?); nothing written")
    path = store.write_predictions(run_id, final["predictions"])
    return {"run_id": run_id, "done": f"wrote {path} ({path.stat().st_size / 2**10:.0f} KiB; {final['overall']:.2f}% "
                                      "as stored)"}
