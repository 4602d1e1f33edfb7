"""Figures of the course (matplotlib + seaborn). Each function returns a Figure; notebooks save it."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from ..learn.data import CLASSES, SPLITS, long_tail_counts

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


def _legend_outside(ax, **kw):
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kw)


def mark_schedule(ax, cfg) -> None:
    """Dotted lines where the learning rate drops (and where the warm-up ends), a dashed one where
    DRW's class weights switch on; labelled along the top of the axes."""
    if cfg is None:
        return
    marks: dict[int, list[str]] = {}
    for i, m in enumerate(cfg.milestones):
        marks.setdefault(m, []).append(f"lr x{cfg.lr_gamma ** (i + 1):g}")
    if cfg.warmup_epochs:
        marks.setdefault(cfg.warmup_epochs, []).append("warm-up ends")
    if cfg.drw:
        marks.setdefault(round(cfg.drw_start * cfg.epochs), []).append("DRW on")
    for epoch, labels in marks.items():  # epochs are 0-based starts: a change at e shows from epoch e + 1
        ax.axvline(epoch + 0.5, color="0.35", ls="--" if "DRW on" in labels else ":", lw=1)
        ax.text(epoch + 0.5, 1.01, " + ".join(labels), transform=ax.get_xaxis_transform(), rotation=90,
                ha="center", va="bottom", fontsize=7, color="0.3")


def training_curves(history: pd.DataFrame, title: str, cfg=None):
    """Test accuracy (overall, many, medium, few) and training accuracy per evaluated epoch, with the
    schedule's lr drops, warm-up end and DRW start marked (``cfg``)."""
    h = history.dropna(subset=["test_overall"])
    fig, ax = plt.subplots(figsize=(8.5, 4))
    ax.plot(h["epoch"], h["test_overall"], color="black", lw=2, label="test overall")
    for key in ("many", "medium", "few"):
        ax.plot(h["epoch"], h[f"test_{key}"], color=SPLIT_COLOURS[key], label=f"test {key}")
    ax.plot(history["epoch"], history["train_acc"], color="0.6", ls="--", label="train (augmented)")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(-3, 103))  # a split stuck at 0% stays visible
    ax.set_title(title, pad=58 if cfg is not None else 6)
    mark_schedule(ax, cfg)
    _legend_outside(ax)
    return fig


def alpha_sweep(ours: pd.DataFrame, reference: pd.DataFrame | None = None, title: str = ""):
    """Overall / many / medium / few accuracy against alpha on a log(1 - alpha) axis (0.9, 0.95, 0.99,
    0.995 are not evenly spaced in what they do: 1 - alpha goes 0.1, 0.05, 0.01, 0.005); ours solid,
    the report's dashed. Frames with columns ``alpha`` and the four metrics; where ``ours`` has a
    ``profile`` column, a line joins only runs of one profile (a 30-epoch run beside a 200-epoch one
    is a change of schedule, not of alpha), each profile with its own marker."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    colours = {"overall": "black", **SPLIT_COLOURS}
    profiles = list(dict.fromkeys(ours["profile"])) if "profile" in ours else []
    groups = [(ours[ours["profile"] == p], f"{'o^sv'[i % 4]}-", f"ours, {p}") for i, p in enumerate(profiles)]
    groups = groups if len(groups) > 1 else [(ours, "o-", "ours")]
    for frame, style, who in (*groups, (reference, "s--", "report")):
        if frame is None or frame.empty:
            continue
        for metric, colour in colours.items():
            d = frame.dropna(subset=[metric]).sort_values("alpha")
            ax.plot(1 - d["alpha"], d[metric], style, color=colour, alpha=0.45 if who == "report" else 1,
                    label=f"{who}: {metric}")
    alphas = sorted(set(ours["alpha"]) | (set(reference["alpha"]) if reference is not None else set()))
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xticks([1 - a for a in alphas], [f"{a:g}" for a in alphas])
    ax.minorticks_off()
    ax.set(xlabel="alpha (axis: log(1 - alpha); the branch loss's weight grows to the right)",
           ylabel="test accuracy (%)", ylim=(0, 100), title=title)
    _legend_outside(ax, ncols=1)
    return fig


def split_bars(df: pd.DataFrame, label: str = "model", title: str = "", references: bool = True):
    """Grouped bars: one group per ``label`` value, one bar per overall / many / medium / few (ours, final
    epoch). With ``references``, the report's number for the same experiment and ratio marks each bar
    (a black bar: its final epoch) and the paper's overall number the overall bar (a diamond: its best
    epoch), where the frame has ``experiment`` and ``imbalance`` and the sources give one."""
    import textwrap

    from ..learn.reference import lookup, paper_overall

    metrics = ["overall", "many", "medium", "few"]
    long = df.melt(id_vars=[label], value_vars=metrics, var_name="split", value_name="accuracy").dropna()
    groups = list(dict.fromkeys(df[label]))
    fig, ax = plt.subplots(figsize=(max(6, 1.5 * len(groups)), 4))
    palette = {"overall": "0.3", **SPLIT_COLOURS}
    sns.barplot(long, x=label, y="accuracy", hue="split", hue_order=metrics, order=groups, palette=palette, ax=ax,
                errorbar=None)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 100), xlabel="")
    ax.set_title(title, pad=28)
    wrap = textwrap.TextWrapper(14, break_long_words=False, break_on_hyphens=False)  # at spaces only
    ax.set_xticks(range(len(groups)), ["\n".join(wrap.fill(part) for part in str(g).split("\n")) for g in groups],
                  fontsize=8)
    marked = set()
    if references and {"experiment", "imbalance"} <= set(df.columns):
        width = 0.8 / len(metrics)
        for g, row in enumerate(df.drop_duplicates(label).itertuples()):
            for k, metric in enumerate(metrics):
                x = g - 0.4 + width * (k + 0.5)
                report = lookup("report", row.experiment, row.imbalance, metric)
                if report is not None:
                    ax.plot([x - width / 2, x + width / 2], [report] * 2, color="black", lw=2.2, solid_capstyle="butt",
                            label="report (final epoch)" if "report" not in marked else None)
                    marked.add("report")
            paper = paper_overall(row.experiment, row.imbalance)
            if paper is not None:
                ax.plot(g - 0.4 + width / 2, paper, "D", color="white", markeredgecolor="black", ms=6,
                        label="paper, overall (best epoch)" if "paper" not in marked else None)
                marked.add("paper")
    ax.legend(fontsize=8, ncols=4 + len(marked), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return fig


def spread(ys, gap: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Label positions at least ``gap`` apart, each as close to its own ``ys`` value as that allows, kept
    within [low, high] (upward from the lowest, then shifted down if the top overflows)."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    out = list(ys)
    prev = low - gap
    for i in order:
        out[i] = max(ys[i], prev + gap, low)
        prev = out[i]
    over = prev - high
    if over > 0:
        for i in order:
            out[i] -= over
    return out


def exit_shares(history: pd.DataFrame, title: str):
    """Share of training images leaving at each exit per epoch (the training rule), and of test
    images (the inference rule) at each evaluation, the last epoch's shares written on the right."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6), sharey=True)
    colours = ["#55A868", "#8172B3", "0.75"]
    for ax, prefix, label in ((axes[0], "train_exit_", "training rule (right and confident)"),
                              (axes[1], "test_exit_", "inference rule (confident)")):
        cols = [c for c in history.columns if c.startswith(prefix)]
        h = history.dropna(subset=cols)
        if h.empty:
            ax.set_axis_off()
            continue
        shares = [100 * h[c] for c in cols]
        ax.stackplot(h["epoch"], *shares, labels=[f"exit {c[-1]}" for c in cols], colors=colours, alpha=0.9)
        ax.set(xlabel="epoch", title=label, ylim=(0, 100), xlim=(h["epoch"].min(), h["epoch"].max()))
        last = [s.iloc[-1] for s in shares]
        middles = [(sum(last[:k]) + share / 2) / 100 for k, share in enumerate(last)]
        for k, (y, share) in enumerate(zip(spread(middles, 0.08), last)):
            ax.text(1.01, y, f"exit {k + 1}: {share:.1f}%", transform=ax.transAxes, fontsize=7, va="center")
        if sum(last[:-1]) < 0.05:
            ax.text(0.5, 0.5, "no image leaves early", transform=ax.transAxes, ha="center", fontsize=9,
                    color="0.2", bbox=dict(facecolor="white", alpha=0.8, lw=0))
    axes[0].set_ylabel("images leaving at each exit (%)")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.2, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title, y=1.03)
    fig.subplots_adjust(wspace=0.35)
    return fig


def threshold_sweep(summaries: dict, title: str = ""):
    """Accuracy and expected FLOPs (relative to the full network) against the inference threshold, one
    line per run; the run's own inference threshold marked. The accuracy axis spans at least 10 points."""
    fig, (acc_ax, flops_ax) = plt.subplots(1, 2, figsize=(11, 3.8))
    lows, highs = [], []
    for name, s in summaries.items():
        sweep = pd.DataFrame(s["exits"]["sweep"])
        line, = acc_ax.plot(sweep["threshold"], sweep["overall"], "o-", ms=3, label=name)
        flops_ax.plot(sweep["threshold"], 100 * sweep["flops_ratio"], "o-", ms=3, color=line.get_color())
        acc_ax.axvline(s["exits"]["inference_threshold"], color=line.get_color(), ls=":", lw=1)
        lows.append(sweep["overall"].min())
        highs.append(sweep["overall"].max())
    if lows:
        mid, half = (min(lows) + max(highs)) / 2, max(5.0, (max(highs) - min(lows)) / 2 + 1)
        acc_ax.set_ylim(max(0, mid - half), min(100, mid + half))
    acc_ax.set(xlabel="inference threshold (dotted: the run's own)", ylabel="test accuracy (%)", title="accuracy")
    flops_ax.set(xlabel="inference threshold", ylabel="expected FLOPs (% of full network)", title="compute",
                 ylim=(0, 105))
    flops_ax.legend(*acc_ax.get_legend_handles_labels(), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                    frameon=False)
    fig.suptitle(title, y=1.03)
    return fig


def accuracy_vs_flops(summaries: dict, title: str = ""):
    """The trade-off early exits exist for: test accuracy against expected inference FLOPs (% of the
    full network), one marker per run at its own inference threshold (a diverged run as an x), each run
    its own colour and marker shape. A run's threshold sweep (the same weights at other thresholds) is
    drawn dashed only where it has three or more distinct FLOPs: two points would draw a straight
    segment that reads like a curve of operating points. ``summaries``: {label: summary with ``exits``}."""
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    colours = sns.color_palette("tab10", 10) + sns.color_palette("dark", 10)
    shapes = "osD^vP*Xh<>p"
    for i, (name, s) in enumerate(summaries.items()):
        ex = s["exits"]
        diverged = s.get("status") == "diverged"
        colour = colours[i % len(colours)]
        ax.plot(100 * ex["flops_ratio"], s["final"]["overall"], "x" if diverged else shapes[i % len(shapes)], ms=9,
                color=colour, markeredgecolor="black" if not diverged else colour,
                label=name + (" (diverged)" if diverged else ""), zorder=3)
        sweep = pd.DataFrame(ex["sweep"]).drop_duplicates("flops_ratio").sort_values("flops_ratio")
        if sweep["flops_ratio"].nunique() >= 3 and not diverged:
            ax.plot(100 * sweep["flops_ratio"], sweep["overall"], "--", lw=1, alpha=0.7, color=colour, zorder=2)
    ax.set(xlabel="expected inference FLOPs (% of the full network)", ylabel="test accuracy (%)", title=title)
    ax.set_xlim(right=102)
    _legend_outside(ax)
    ax.annotate("markers: each run at its own inference threshold; dashed: the same weights at other thresholds "
                "(choosing one there on the test set would flatter it)", (0, 0), xytext=(0, -36),
                xycoords="axes fraction", textcoords="offset points", fontsize=7, color="0.35", va="top")
    return fig


# ------------------------------------------------------------------------------------ diagrams
def _box(ax, x, y, w, h, text, colour="#DDE6F3", fontsize=8):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.06", fc=colour,
                                ec="0.3", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, x0, y0, x1, y1, text="", colour="0.3", style="-|>"):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle=style, color=colour, lw=1.2))
    if text:
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, text, ha="center", fontsize=7, color=colour)


def reslt_diagram():
    """ResLT's head: a shared backbone, three branches (all classes / medium+tail / tail), one shared
    classifier, the prediction as the sum; the losses of Eq. 1-3 on the right."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.set(xlim=(0, 10), ylim=(0, 4)), ax.axis("off")
    _box(ax, 0.1, 1.6, 1.5, 0.8, "image")
    _box(ax, 2.0, 1.4, 1.7, 1.2, "ResNet-32\nbackbone\n(shared)")
    _arrow(ax, 1.6, 2.0, 2.0, 2.0)
    rows = [("N_h+m+t\nall classes", 3.0, "all images"), ("N_m+t\nmedium + tail", 1.8, "medium + tail images"),
            ("N_t\ntail", 0.6, "tail images")]
    for text, y, who in rows:
        _box(ax, 4.2, y - 0.35, 1.5, 0.7, text, "#FCE5CD")
        _arrow(ax, 3.7, 2.0, 4.2, y)
        _box(ax, 6.1, y - 0.3, 1.2, 0.6, "classifier\n(shared)", "#EAD1DC", 7)
        _arrow(ax, 5.7, y, 6.1, y)
        ax.text(4.95, y - 0.5, f"branch loss: {who}", fontsize=7, ha="center", va="center", color="#A0522D")
    _box(ax, 8.6, 1.6, 1.3, 0.8, "sum =\nprediction\n(fusion loss)", "#D9EAD3", 7.5)
    for _, y, _ in rows:
        _arrow(ax, 7.3, y, 8.6, 2.0, colour="0.6")
    ax.text(5.0, 3.8, "L = (1 - alpha) L_fusion(sum) + alpha (L_branch of the three)   (Eq. 1-3)", ha="center",
            fontsize=9)
    return fig


def hybrid_diagram(kind: str):
    """The report's hybrids: ``accumulative`` (models 1-3), ``routed`` (4, 7, 8, 12, 13) or ``full power``
    (5, 6, 14-16). Exits after stages 1 and 2 and at the end; arrows say where an image's loss counts:
    at every exit up to the one it leaves at (accumulative), or only there (routed)."""
    if kind not in ("accumulative", "routed", "full power"):
        raise ValueError(f"unknown hybrid {kind!r}")
    fig, ax = plt.subplots(figsize=(9.5, 3.8))
    ax.set(xlim=(0, 10), ylim=(0, 4.2)), ax.axis("off")
    _box(ax, 0.1, 2.6, 1.0, 0.7, "image")
    widths = "15/30/63" if kind == "full power" else "16/32/48"
    stages = [(1.5, "stage 1"), (4.0, "stage 2"), (6.5, "stage 3")]
    for i, (x, name) in enumerate(stages):
        _box(ax, x, 2.5, 1.6, 0.9, f"{name}\n({widths.split('/')[i]} ch.)")
        _arrow(ax, stages[i - 1][0] + 1.6 if i else 1.1, 2.95, x, 2.95)
    heads = ["ResLT head\n(3 branches)"] * 3 if kind == "full power" else \
        ["exit head\n(simulated\nResLT loss)", "exit head\n(simulated\nResLT loss)", "ResLT head\n(3 branches)"]
    for (x, _), head, k in zip(stages, heads, range(3)):
        _box(ax, x + 0.1, 0.9, 1.4, 1.0, head, "#FCE5CD" if head.startswith("ResLT") else "#FFF2CC", 7)
        _arrow(ax, x + 0.8, 2.5, x + 0.8, 1.9)
        ax.text(x + 0.8, 0.55, f"exit {k + 1}", ha="center", fontsize=8)
    # an image leaving at exit 2: where its loss counts (full power: both variants, one row each)
    variants = {"accumulative": [("", [0, 1])], "routed": [("", [1])],
                "full power": [("accumulated\n(models 5, 6)", [0, 1]), ("routed\n(models 14-16)", [1])]}[kind]
    if len(variants) == 1:
        ax.text(0.1, 0.15, "an image that\nleaves at exit 2:", fontsize=7.5, va="center")
    else:
        ax.set_ylim(-0.5, 4.2)
        ax.text(0.1, 1.1, "an image that\nleaves at exit 2:", fontsize=7.5, va="center")
    for row, (name, counted) in enumerate(variants):
        y = 0.15 if len(variants) == 1 else 0.15 - 0.45 * row
        if name:
            ax.text(0.1, y, name, fontsize=7, ha="left", va="center", color="0.2")
        for k in range(3):
            x = stages[k][0] + 0.8
            if k in counted:
                ax.text(x, y, "loss counts here", ha="center", fontsize=7, color="#C44E52", weight="bold")
            elif k == 2:
                ax.text(x, y, "not reached", ha="center", fontsize=7, color="0.5")
    rule = {"accumulative": "its loss is summed at every exit up to its own (ELF)",
            "routed": "its loss counts at its own exit only (the report's fix)",
            "full power": "a ResLT head and the full ResLT loss at every exit"}[kind]
    ax.text(5.0, 3.75, f"{kind} hybrid. {rule[0].upper()}{rule[1:]}", ha="center", fontsize=8.5)
    ax.text(5.0, 3.5, "training rule: an image leaves at an early exit when it is right there and more confident "
            "than the training threshold", ha="center", fontsize=7.5, color="0.3")
    return fig


__all__ = ["accuracy_vs_flops", "alpha_sweep", "augment_views", "class_counts", "exit_shares", "hybrid_diagram",
           "image_grid", "mark_schedule", "reslt_diagram", "shade_splits", "split_bars", "spread", "threshold_sweep",
           "training_curves"]


# ----------------------------------------------------------------------- analyses on stored predictions
def confusion_matrices(matrices: dict, title: str = ""):
    """Row-normalised confusion matrices side by side (rows: true class; the diagonal is each class's
    recall), one per run; classes in head-to-tail order, so a long tail shows as mass left of the diagonal."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.6 * len(matrices), 4.2), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items()):
        sns.heatmap(100 * m, ax=ax, cmap="Blues", vmin=0, vmax=100, annot=True, fmt=".0f", cbar=False,
                    annot_kws={"fontsize": 6}, square=True)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class (0 = head)")
    fig.suptitle(title or "confusion, % of each true class", fontsize=10)
    fig.tight_layout()
    return fig


def reliability_diagrams(results: dict, title: str = ""):
    """Accuracy against mean confidence per confidence bin (a calibrated model lies on the diagonal), with
    each run's ECE; the bars underneath are the share of test images in each bin."""
    fig, (ax, share) = plt.subplots(2, 1, figsize=(5.6, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="calibrated")
    for i, (name, r) in enumerate(results.items()):
        t = r["table"].dropna(subset=["confidence"])
        ax.plot(t["confidence"], t["accuracy"], marker="o", label=f"{name} (ECE {100 * r['ece']:.1f})")
        bins = len(r["table"])
        width = 1 / bins / len(results)
        share.bar([j / bins + (i + 0.5) * width for j in range(bins)], r["table"]["share"], width=width, label=name)
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8, loc="upper left")
    share.set(xlabel="confidence (max softmax)", ylabel="share of images")
    ax.set_title(title or "reliability", fontsize=10)
    fig.tight_layout()
    return fig


def per_class_accuracy_vs_size(table: pd.DataFrame, title: str = ""):
    """Final per-class test accuracy against the class's training images (log scale), one line per run."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, group in table.groupby("run", sort=False):
        group = group.sort_values("training images")
        ax.plot(group["training images"], group["accuracy"], marker="o", label=name)
    ax.set_xscale("log")
    ax.set(xlabel="training images of the class (log scale)", ylabel="test accuracy on the class (%)", ylim=(-3, 103))
    ax.legend(fontsize=8)
    ax.set_title(title or "per-class accuracy against class size", fontsize=10)
    return fig


def confidence_histograms(p: dict, scale: float = 1.0, threshold: float | None = None, title: str = ""):
    """Per exit, the test images' confidence (max softmax of ``scale`` x the exit's logits) as two
    histograms: images that exit answers right and wrong; the inference threshold as a dashed line. An
    exit whose wrong answers pile up above the threshold decides wrongly with confidence."""
    import numpy as np

    from .analysis import softmax

    logits = np.asarray(p["logits"], dtype=np.float64)
    k = logits.shape[0]
    fig, axes = plt.subplots(1, k, figsize=(3.4 * k + 0.6, 3.0), sharey=True, squeeze=False)
    bins = np.linspace(0.0, 1.0, 21)
    for e, ax in enumerate(axes[0]):
        prob = softmax(logits[e], scale)
        conf, right = prob.max(-1), prob.argmax(-1) == np.asarray(p["labels"])
        ax.hist([conf[right], conf[~right]], bins=bins, stacked=True, color=["#55A868", "#C44E52"],
                label=["right", "wrong"])
        if threshold is not None and e < k - 1:
            ax.axvline(threshold, color="0.2", ls="--", lw=1, label=f"threshold {threshold:g}")
        ax.set(xlabel="confidence", title=f"exit {e + 1}" if k > 1 else "final exit", xlim=(0, 1))
    axes[0][0].set_ylabel("test images")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(title, y=1.04)
    return fig
