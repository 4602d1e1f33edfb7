"""The epoch loop and what runs between epochs: the learning-rate schedule, one epoch of steps,
evaluation, the divergence monitor and the exit summary of an early-exit run.

An epoch is a generator (``epoch_steps``) that yields after every step and returns the epoch's
statistics: ``drive`` runs one to the end, and a driver of several runs (``parallel.train_packed``)
or of a time-boxed lease can interleave them, or stop one between two steps. Nothing is read back
to the host inside an epoch; ``TrainStep.read`` does it once at the end.
"""
from __future__ import annotations

import torch

from ..learn import data as D
from ..learn.exits import confidence, exit_flops, first_confident, threshold_sweep
from ..learn.experiments import TrainConfig
from ..learn.models import fused_logits
from .engine import Engine, make_engine
from .step import draw


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """lr of 0-based ``epoch``: warm-up base * (w0 (1 - f) + f), f = (e + 1) / W, for e < W (w0 =
    ``warmup_from``: 0 in LDAM-DRW and the report, 1/3 in the official ResLT code), then x gamma at
    each milestone."""
    if epoch < cfg.warmup_epochs:
        f = (epoch + 1) / cfg.warmup_epochs
        return cfg.lr * (cfg.warmup_from * (1 - f) + f)
    return cfg.lr * cfg.lr_gamma ** sum(epoch >= m for m in cfg.milestones)


def epoch_steps(step, cfg: TrainConfig, data: D.LongTailedCIFAR10, generator: torch.Generator, augmenter,
                class_weight=None, on_step=None, max_batches: int | None = None):
    """One pass over the training set in a seeded order, a ``step`` per batch; yields after each step,
    returns the epoch's statistics (``step.read()``). ``max_batches`` stops early (benchmarks)."""
    n, size = len(data.train_y), cfg.batch_size
    perm = torch.randperm(n, generator=generator).to(data.device, non_blocking=True)
    step.reset()
    batches = D.batches_per_epoch(n, size, cfg.drop_last)
    for b in range(batches if max_batches is None else min(batches, max_batches)):
        idx = perm[b * size:(b + 1) * size]
        step(idx, draw(cfg, augmenter, min(size, n - b * size), generator), class_weight)
        if on_step is not None:
            on_step(1)
        yield
    return step.read()


def drive(generator):
    """Run a generator (an epoch, a whole run) to its end; its return value."""
    while True:
        try:
            next(generator)
        except StopIteration as done:
            return done.value


def train_epoch(step, cfg: TrainConfig, data: D.LongTailedCIFAR10, generator: torch.Generator, augmenter,
                class_weight=None, on_step=None, max_batches: int | None = None) -> dict:
    """``epoch_steps`` run to its end: the epoch's statistics."""
    return drive(epoch_steps(step, cfg, data, generator, augmenter, class_weight, on_step, max_batches))


@torch.no_grad()
def evaluate(model, data: D.LongTailedCIFAR10, normalize: bool = False, engine: Engine | None = None,
             inference_threshold: float = 0.5, forward=None, confidence_scale: float = 1.0,
             keep_logits: bool = False) -> dict:
    """Test accuracy (percent): overall, many/medium/few (report splits), per class, predicted-class counts.

    For an early-exit model every test image is judged at the exit the inference rule sends it to;
    ``exits`` then holds the fraction leaving at each exit, the accuracy of those, and the (K, N)
    confidences and predictions of every exit (for post-hoc threshold sweeps). ``engine`` sets the
    batch size, memory format and precision (default: the device's engine); ``forward`` replaces
    ``model(x)`` (a compiled forward); ``confidence_scale`` multiplies the logits before the softmax
    that judges an exit's confidence (``TrainConfig.confidence_scale``). ``keep_logits`` adds
    ``predictions``: every exit's (fused) logits (K, N, C), its predictions (K, N) and the exit each
    image takes (N,), on the host (what a finished run stores, ``results.PREDICTIONS``).
    """
    engine = engine or make_engine(data.device)
    forward = forward or model
    was_training = model.training
    model.eval()
    confs, preds, logits = [], [], []
    for x, _ in D.test_batches(data, engine.eval_batch, normalize, engine.eval_memory_format):
        with engine.autocast():
            outputs = forward(x)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        c, p = zip(*(confidence(o, confidence_scale) for o in outputs))
        confs.append(torch.stack(c))
        preds.append(torch.stack(p))
        if keep_logits:
            logits.append(torch.stack([fused_logits(o).float() for o in outputs]))
    model.train(was_training)
    confs, preds, y = torch.cat(confs, 1), torch.cat(preds, 1), data.test_y
    exit_idx = first_confident(confs.clone(), inference_threshold)
    pred = preds.gather(0, exit_idx[None])[0]
    hit = pred == y
    k = len(confs)

    def counts(values, n, where=None):  # per-value counts as one-hot sums (bincount reads the max back)
        one_hot = values[None] == torch.arange(n, device=values.device)[:, None]
        return (one_hot if where is None else one_hot & where[None]).sum(1)

    # every count in one host read
    read = torch.cat([counts(y, D.NUM_CLASSES, hit), counts(y, D.NUM_CLASSES), counts(pred, D.NUM_CLASSES),
                      counts(exit_idx, k), counts(exit_idx, k, hit)]).tolist()
    correct, total, predicted = (read[i * D.NUM_CLASSES:(i + 1) * D.NUM_CLASSES] for i in range(3))
    leaving, right = read[3 * D.NUM_CLASSES:3 * D.NUM_CLASSES + k], read[3 * D.NUM_CLASSES + k:]

    def acc(classes):
        n = sum(total[c] for c in classes)
        return 100.0 * sum(correct[c] for c in classes) / n if n else float("nan")

    out = {"overall": acc(range(D.NUM_CLASSES))}
    out.update({name: acc(classes) for name, classes in D.SPLITS.items()})
    out["per_class"] = [acc([c]) for c in range(D.NUM_CLASSES)]
    out["predicted_counts"] = predicted
    if k > 1:
        out["exits"] = {
            "fraction": [n / len(y) for n in leaving],
            "accuracy": [100.0 * r / n if n else None for r, n in zip(right, leaving)],
            "confidences": confs, "predictions": preds,
        }
    if keep_logits:
        out["predictions"] = {"logits": torch.cat(logits, 1).cpu(), "predictions": preds.cpu(),
                              "exit": exit_idx.cpu(), "labels": y.cpu()}
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


