"""Analyses on a run's stored test outputs (``ResultsStore.predictions``): no weights, no GPU, seconds.

- ``confusion``: the confusion matrix (rows: true class, columns: predicted), counts or row-normalised;
- ``reliability``: calibration in equal-width confidence bins and the expected calibration error (ECE);
- ``sweep``: accuracy and FLOPs of an early-exit run for any inference threshold, from its logits;
- ``per_class_vs_size``: per-class accuracy against the class's training images (from the summaries).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..learn import data as D


def at_exit(p: dict) -> np.ndarray:
    """Each test image's prediction at the exit it takes (the run's inference rule)."""
    return p["predictions"][p["exit"], np.arange(len(p["exit"]))]


def confusion(pred: np.ndarray, labels: np.ndarray, normalize: bool = False, classes: int = D.NUM_CLASSES):
    """(C, C) confusion matrix, rows the true class; ``normalize``: each row sums to 1 (a class's recall on
    the diagonal)."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    if not normalize:
        return m
    rows = m.sum(1, keepdims=True)
    return np.divide(m, rows, out=np.zeros_like(m, dtype=np.float64), where=rows > 0)


def softmax(logits: np.ndarray, scale: float = 1.0) -> np.ndarray:
    z = scale * np.asarray(logits, dtype=np.float64)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def reliability(logits: np.ndarray, labels: np.ndarray, bins: int = 10, scale: float = 1.0) -> dict:
    """Calibration of softmax(scale * logits): per equal-width confidence bin the share of images, their
    mean confidence and accuracy; ECE = sum_b share_b |accuracy_b - confidence_b| (Guo et al. 2017)."""
    prob = softmax(logits, scale)
    conf, pred = prob.max(-1), prob.argmax(-1)
    hit = pred == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "images": n, "share": n / len(conf),
                     "confidence": float(conf[inside].mean()) if n else np.nan,
                     "accuracy": float(hit[inside].mean()) if n else np.nan})
    table = pd.DataFrame(rows)
    ece = float(np.nansum(table["share"] * (table["accuracy"] - table["confidence"]).abs()))
    return {"table": table, "ece": ece, "accuracy": float(hit.mean()), "mean_confidence": float(conf.mean())}


def sweep(p: dict, costs, thresholds, scale: float = 1.0) -> pd.DataFrame:
    """An early-exit run at other inference thresholds: each image leaves at the first exit whose
    confidence (softmax of ``scale`` x its logits) passes the threshold, else at the last; accuracy (%)
    and FLOPs relative to the full network. Threshold 1.0: no early exit."""
    conf = softmax(p["logits"], scale).max(-1)  # (K, N)
    k, n = conf.shape
    rows = []
    for t in thresholds:
        leave = conf > t
        leave[-1] = True
        exit_idx = leave.argmax(0)
        pred = p["predictions"][exit_idx, np.arange(n)]
        share = np.bincount(exit_idx, minlength=k) / n
        rows.append({"threshold": t, "overall": 100.0 * float((pred == p["labels"]).mean()),
                     "flops_ratio": float((share * np.asarray(costs)).sum() / costs[-1]),
                     **{f"exit {i + 1} share": share[i] for i in range(k)}})
    return pd.DataFrame(rows)


def per_class_vs_size(summaries: dict) -> pd.DataFrame:
    """Per run and class: training images of the class and the final test accuracy on it."""
    rows = []
    for name, s in summaries.items():
        counts = (s.get("data") or {}).get("counts")
        if not counts:
            continue
        for c, (n, acc) in enumerate(zip(counts, s["final"]["per_class"])):
            rows.append({"run": name, "class": c, "name": D.CLASSES[c], "training images": n, "accuracy": acc})
    return pd.DataFrame(rows)
