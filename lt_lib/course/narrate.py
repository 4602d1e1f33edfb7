"""Conclusions worded from stored numbers, so that a notebook's "What we saw" can never go stale.

Every sentence a notebook concludes with is built here from values read from the results store:
comparisons are chosen by the numbers (higher, lower, level), never typed in advance.
"""
from __future__ import annotations

import math

import pandas as pd

LEVEL = 0.5  # points: closer than this is "level with" (one seed's noise is larger still)


def known(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def pct(x) -> str:
    return f"{x:.2f}%" if known(x) else "n/a"


def versus(a, b, what: str = "", unit: str = "points") -> str:
    """'3.21 points above <what>' / 'below' / 'level with' (within LEVEL)."""
    if not (known(a) and known(b)):
        return f"not comparable with {what} yet"
    d = a - b
    if abs(d) < LEVEL:
        return f"level with {what} (within {LEVEL:g} {unit})"
    return f"{abs(d):.2f} {unit} {'above' if d > 0 else 'below'} {what}"


def versus_runs(a, b, what: str) -> str:
    """``versus`` of two stored runs' final accuracy, only when they share a profile (a 30-epoch run
    against a 200-epoch one says nothing about a setting)."""
    if a.get("profile") != b.get("profile"):
        return f"not comparable with {what} yet ({a.get('profile')} against {b.get('profile')} profile)"
    return versus(a["overall"], b["overall"], what)


def run_words(row) -> str:
    """'model7 at ratio 100 (quick, 30 epochs)' for a row of ``Notebook.runs``."""
    extra = f", {row['setting']}" if row.get("setting") == "old setting" else ""
    return f"{row['experiment']} at ratio {row['imbalance']:g} ({row.get('shown as', row.get('profile'))}{extra})"


FINISHED = ("completed", "diverged")


def has_run(row) -> bool:
    """Whether a row of ``Notebook.runs`` holds a finished stored run (not "not run yet", not "damaged")."""
    return row.get("status") in FINISHED


def stored(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``runs`` that have a finished stored run."""
    return runs[runs["status"].isin(FINISHED)] if len(runs) else runs


def missing_words(runs: pd.DataFrame) -> str:
    gone = runs[runs["status"] == "not run yet"] if len(runs) else runs
    if gone.empty:
        return ""
    names = ", ".join(f"{r.experiment} at {r.imbalance:g}" for r in gone.itertuples())
    return f"Not run yet: {names}; the conclusions above will change when they are."


def quick_caveat(runs: pd.DataFrame) -> str:
    s = stored(runs)
    if len(s) and (s["profile"] == "quick").any():
        return ("Rows marked quick are 30-epoch runs: they show the direction of a change on a short schedule, "
                "not the report's 200-epoch numbers.")
    return ""


def what_we_saw(*paragraphs):
    """The notebook's closing cell: a Markdown block of the given (generated) paragraphs."""
    from IPython.display import Markdown

    body = "\n\n".join(p for p in paragraphs if p)
    return Markdown("### What we saw\n\n" + body)
