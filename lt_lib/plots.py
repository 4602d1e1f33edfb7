"""Figures of the course (matplotlib + seaborn). Each function returns a Figure; notebooks save it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from .data import CLASSES, SPLITS, long_tail_counts

SPLIT_COLOURS = {"many": "#4C72B0", "medium": "#DD8452", "few": "#C44E52"}
METRIC_LABELS = {"test_overall": "overall", "test_many": "many", "test_medium": "medium", "test_few": "few"}


def shade_splits(ax, alpha=0.08):
    """Shade the many / medium / few class ranges of a per-class axis and name them."""
    for name, classes in SPLITS.items():
        ax.axvspan(min(classes) - 0.5, max(classes) + 0.5, color=SPLIT_COLOURS[name], alpha=alpha, lw=0)
        ax.text((min(classes) + max(classes)) / 2, 1.0, name, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=9, color=SPLIT_COLOURS[name])


def class_counts(ratios=(100, 50, 10)):
    """Training images per class for each imbalance ratio, on a log scale, splits shaded."""
    df = pd.DataFrame([{"class": c, "ratio": f"{r}", "images": n} for r in ratios
                       for c, n in enumerate(long_tail_counts(r))])
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.barplot(df, x="class", y="images", hue="ratio", ax=ax, palette="viridis")
    ax.set_yscale("log")
    ax.set_xticks(range(10), [f"{i} {n}" for i, n in enumerate(CLASSES)], fontsize=8, rotation=30, ha="right")
    ax.set(xlabel="class (0 = head)", ylabel="training images (log scale)")
    ax.legend(title="imbalance ratio")
    shade_splits(ax)
    ax.set_title("CIFAR-10-LT: n_i = 5000 (1/ratio)^(i/9)", pad=18)
    return fig


def image_grid(images: torch.Tensor, labels: torch.Tensor, per_class: int = 8, title: str | None = None):
    """The first ``per_class`` images of each class (uint8 NCHW), one row per class."""
    fig, axes = plt.subplots(10, per_class, figsize=(per_class * 0.8 + 0.8, 10 * 0.8))
    fig.subplots_adjust(left=0.14, right=0.99, top=0.94, bottom=0.01, wspace=0.05, hspace=0.05)
    for c in range(10):
        idx = torch.nonzero(labels == c).flatten()[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(idx):
                ax.imshow(images[idx[j]].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        axes[c, 0].text(-4, 16, CLASSES[c], ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def augment_views(images: torch.Tensor, views: list[torch.Tensor], names: list[str]):
    """Rows: original images; columns: ``names`` views (each a uint8 batch like ``images``)."""
    n = len(images)
    fig, axes = plt.subplots(n, len(views) + 1, figsize=((len(views) + 1) * 1.1, n * 1.1 + 0.3))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.01, wspace=0.08, hspace=0.08)
    for i in range(n):
        for j, batch in enumerate([images, *views]):
            ax = axes[i, j]
            ax.imshow(batch[i].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title((["original"] + names)[j], fontsize=7)
    return fig


def training_curves(history: pd.DataFrame, title: str):
    """Test accuracy (overall, many, medium, few) and training accuracy per evaluated epoch."""
    h = history.dropna(subset=["test_overall"])
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.plot(h["epoch"], h["test_overall"], color="black", lw=2, label="test overall")
    for key in ("many", "medium", "few"):
        ax.plot(h["epoch"], h[f"test_{key}"], color=SPLIT_COLOURS[key], label=f"test {key}")
    ax.plot(history["epoch"], history["train_acc"], color="0.6", ls="--", label="train (augmented)")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100), title=title)
    ax.legend(loc="lower right", fontsize=8, ncols=2)
    return fig


def metric_against(df: pd.DataFrame, x: str, reference: pd.DataFrame | None = None, title: str = ""):
    """Overall / many / medium / few accuracy against the values of ``x`` (e.g. alpha), evenly spaced:
    ours solid, the report's dashed."""
    values = sorted(set(df[x]) | (set(reference[x]) if reference is not None else set()))
    pos = {v: i for i, v in enumerate(values)}
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colours = {"overall": "black", **SPLIT_COLOURS}
    for metric, colour in colours.items():
        d = df.dropna(subset=[metric]).sort_values(x)
        ax.plot(d[x].map(pos), d[metric], "o-", color=colour, label=f"ours: {metric}")
        if reference is not None:
            r = reference.dropna(subset=[metric]).sort_values(x)
            ax.plot(r[x].map(pos), r[metric], "s--", color=colour, alpha=0.5, label=f"report: {metric}")
    ax.set_xticks(range(len(values)), [f"{v:g}" for v in values])
    ax.set(xlabel=x, ylabel="test accuracy (%)", ylim=(0, 100), title=title)
    ax.legend(fontsize=7, ncols=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def split_bars(df: pd.DataFrame, label: str = "model", title: str = ""):
    """Grouped bars: one group per ``label`` value, one bar per overall / many / medium / few."""
    long = df.melt(id_vars=[label], value_vars=["overall", "many", "medium", "few"], var_name="split",
                   value_name="accuracy").dropna()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * df[label].nunique()), 4))
    palette = {"overall": "0.3", **SPLIT_COLOURS}
    sns.barplot(long, x=label, y="accuracy", hue="split", palette=palette, ax=ax)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100), xlabel="")
    ax.set_title(title, pad=28)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


def exit_shares(history: pd.DataFrame, title: str):
    """Share of training images leaving at each exit per epoch (the training rule), and of test
    images (the inference rule) at each evaluation."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, prefix, label in ((axes[0], "train_exit_", "training rule"), (axes[1], "test_exit_", "inference rule")):
        cols = [c for c in history.columns if c.startswith(prefix)]
        h = history.dropna(subset=cols)
        if h.empty:
            ax.set_axis_off()
            continue
        ax.stackplot(h["epoch"], *(100 * h[c] for c in cols), labels=[f"exit {c[-1]}" for c in cols], alpha=0.8)
        ax.set(xlabel="epoch", title=label, ylim=(0, 100))
    axes[0].set_ylabel("images leaving at each exit (%)")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(title, y=1.03)
    return fig


def threshold_sweep(summaries: dict, title: str = ""):
    """Accuracy and expected FLOPs (relative to the full network) against the inference threshold, one
    line per run; the run's own inference threshold marked."""
    fig, (acc_ax, flops_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, s in summaries.items():
        sweep = pd.DataFrame(s["exits"]["sweep"])
        line, = acc_ax.plot(sweep["threshold"], sweep["overall"], "o-", ms=3, label=name)
        flops_ax.plot(sweep["threshold"], 100 * sweep["flops_ratio"], "o-", ms=3, color=line.get_color())
        t = s["exits"]["inference_threshold"]
        acc_ax.axvline(t, color=line.get_color(), ls=":", lw=1)
    acc_ax.set(xlabel="inference threshold", ylabel="test accuracy (%)", title="accuracy")
    flops_ax.set(xlabel="inference threshold", ylabel="expected FLOPs (% of full network)", title="compute",
                 ylim=(0, 105))
    acc_ax.legend(fontsize=8)
    fig.suptitle(title, y=1.03)
    return fig


def accuracy_vs_flops(summaries: dict, title: str = ""):
    """The trade-off early exits exist for: test accuracy against expected inference FLOPs (% of the
    full network), one curve per run from its threshold sweep, its own inference threshold as a
    large marker. ``summaries``: {label: summary with ``exits``}."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, s in summaries.items():
        ex = s["exits"]
        sweep = pd.DataFrame(ex["sweep"])
        line, = ax.plot(100 * sweep["flops_ratio"], sweep["overall"], "o-", ms=2.5, lw=1, alpha=0.8, label=name)
        ax.plot(100 * ex["flops_ratio"], s["final"]["overall"], "o", ms=8, color=line.get_color(),
                markeredgecolor="black")
    ax.set(xlabel="expected inference FLOPs (% of the full network)", ylabel="test accuracy (%)", title=title)
    ax.legend(fontsize=7, ncols=2, loc="lower right")
    ax.text(0.01, 0.99, "curves: inference-threshold sweep (0.10-1.0); large dots: the report's threshold",
            transform=ax.transAxes, va="top", fontsize=7, color="0.35")
    return fig


__all__ = ["accuracy_vs_flops", "exit_shares", "threshold_sweep", "augment_views", "class_counts", "image_grid", "metric_against", "shade_splits", "split_bars",
           "training_curves"]
