"""Statistics over seeds: mean, std and count per experiment x ratio x profile.

A cell of a table pools the seeds of ONE experiment at ONE ratio under ONE profile and ONE setting:
quick and full runs are never averaged together, nor runs of an older setting with current ones. Only finished runs (completed or diverged) count. The std is the
sample std (ddof 1) and exists only from two seeds on: a single seed shows its number and n = 1,
never a made-up spread.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .results import atomic_write_text, load_results

METRICS = ("overall", "many", "medium", "few", "best_overall")
FINISHED = ("completed", "diverged")
KEYS = ["experiment", "imbalance", "profile"]


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, imbalance, profile, setting) with ``n``, ``seeds`` and ``<metric>_mean`` /
    ``<metric>_std`` for overall, many, medium, few and best_overall (the test-selected best epoch).

    ``runs`` has load_results' columns; rows with another status (e.g. "not run yet") are ignored.
    Runs of different settings (``setting_hash``: the config without its seed; the registry's current
    setting and each older one) are never pooled: each is its own row, labelled by ``setting``. ``n``
    counts distinct seeds: a seed present twice in one setting counts once (its first row).
    """
    columns = [*KEYS, "setting", "n", "seeds", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))]
    done = runs[runs["status"].isin(FINISHED)] if len(runs) else runs
    if done.empty:
        return pd.DataFrame(columns=columns)
    done = done.assign(setting=done["setting"].fillna("current") if "setting" in done else "current",
                       setting_hash=done["setting_hash"].fillna("") if "setting_hash" in done else "")
    rows = []
    for key, group in done.groupby([*KEYS, "setting", "setting_hash"], sort=False):
        group = group.drop_duplicates("seed")
        row = dict(zip([*KEYS, "setting"], key), n=len(group),
                   seeds=" ".join(str(int(s)) for s in sorted(group["seed"])))
        for m in METRICS:
            values = pd.to_numeric(group[m], errors="coerce").dropna()
            row[f"{m}_mean"] = values.mean() if len(values) else math.nan
            row[f"{m}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def rounded(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """``table`` with its float columns rounded the way ``f"{x:.2f}"`` prints them: to the decimal nearest
    the stored binary value. pandas' own ``round`` (numpy's) scales first and rounds half to even, so a
    split accuracy such as 58.175 (stored just below it) or 70.825 (just above) can show one way in a
    table and the other in the sentence or the README row beside it."""
    out = table.copy()
    for column in out.select_dtypes("float").columns:
        # float(): round() of a numpy float is numpy's rounding again
        out[column] = [x if math.isnan(x) else round(float(x), digits) for x in out[column]]
    return out


def mean_std(mean: float, std: float, n: int, digits: int = 2) -> str:
    """'75.33 ± 0.41 (n=3)'; one seed: '75.33 (n=1)'; no run: 'not run yet'."""
    if not n or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "not run yet"
    if n > 1 and not math.isnan(std):
        return f"{mean:.{digits}f} ± {std:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} (n={n})"


def write_summary_csv(results_dir="results", path=None) -> pd.DataFrame:
    """``results/summary.csv``: one row per experiment x ratio x profile x setting with mean, std, n
    (distinct seeds) and the best-epoch mean; returns the table. Runs of an older setting of their
    registry entry are their own rows, labelled "old setting"; smoke runs (synthetic data) are left out."""
    runs = load_results(results_dir, damaged=False)
    table = aggregate(runs[runs["profile"] != "smoke"])
    out = table.rename(columns={"overall_mean": "mean", "overall_std": "std", "best_overall_mean": "best_epoch_mean"})
    out = out[["experiment", "imbalance", "profile", "setting", "n", "seeds", "mean", "std", "best_epoch_mean",
               "many_mean", "medium_mean", "few_mean"]].sort_values(["profile", "experiment", "imbalance", "setting"])
    path = Path(path) if path else Path(results_dir) / "summary.csv"
    atomic_write_text(path, rounded(out).to_csv(index=False))
    return out
