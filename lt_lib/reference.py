"""Published numbers, as data: the report's tables and the ResLT paper's, each with its source.

``REFERENCE`` has one row per (who, experiment, imbalance): who is ``report`` (the report being
reproduced) or ``paper`` (the ResLT paper, Table 5); accuracies in percent; ``None`` where the source
gives no number. ``reference_table(experiments, ratios)`` returns them as a DataFrame for notebooks.
"""
from __future__ import annotations

import pandas as pd

_R000 = "seed 000 (ResLT implementation report)"
_P003 = "seed 003 (ResLT paper, Table 5, ResNet-32)"

# (who, experiment, imbalance, overall, many, medium, few, source)
_ROWS = [
    ("report", "reslt-a0.995", 100, 53.9, 27.8, 46.93, 78.7, f"{_R000}, alpha table"),
    ("report", "reslt-a0.9", 100, 72.0, 83.37, 66.27, 67.95, f"{_R000}, alpha table"),
    ("report", "reslt-a0.99", 100, 61.77, 43.9, 52.5, 82.12, f"{_R000}, alpha table"),
    ("report", "reslt-a0.95", 100, 70.79, 74.73, 64.73, 72.45, f"{_R000}, alpha table"),
    ("report", "reslt-a0.95-aa", 100, 70.22, 67.87, 62.3, 77.92, f"{_R000}, augmentation table"),
    ("report", "reslt-a0.95-aa-ls", 100, 75.33, 74.37, 65.93, 83.1, f"{_R000}, final ResLT table"),
    ("report", "reslt-a0.95-aa-ls", 50, 80.14, 80.5, 70.1, 87.4, f"{_R000}, final ResLT table"),
    ("report", "reslt-a0.95-aa-ls", 10, 86.78, 84.63, 79.23, 94.05, f"{_R000}, final ResLT table"),
    ("paper", "reslt", 100, 80.44, None, None, None, _P003),
    ("paper", "reslt", 50, 83.46, None, None, None, _P003),
    ("paper", "reslt", 10, 89.06, None, None, None, _P003),
    ("paper", "reslt-strong-aug", 100, 82.40, None, None, None, f"{_P003}, mixup + autoaugment"),
    ("paper", "reslt-strong-aug", 50, 85.17, None, None, None, f"{_P003}, mixup + autoaugment"),
    ("paper", "reslt-strong-aug", 10, 89.70, None, None, None, f"{_P003}, mixup + autoaugment"),
]

COLUMNS = ["who", "experiment", "imbalance", "overall", "many", "medium", "few", "source"]
REFERENCE = pd.DataFrame(_ROWS, columns=COLUMNS)

# Which paper row an experiment of ours is compared with.
PAPER_COUNTERPART = {name: "reslt" for name in (
    "reslt-a0.9", "reslt-a0.95", "reslt-a0.99", "reslt-a0.995", "reslt-a0.95-aa", "reslt-a0.95-aa-ls", "reslt-paper")}


def lookup(who: str, experiment: str, imbalance: float, metric: str = "overall"):
    """One published number, or None where the source gives none."""
    rows = REFERENCE[(REFERENCE.who == who) & (REFERENCE.experiment == experiment)
                     & (REFERENCE.imbalance == float(imbalance))]
    if rows.empty:
        return None
    value = rows.iloc[0][metric]
    return None if pd.isna(value) else float(value)


def paper_overall(experiment: str, imbalance: float):
    counterpart = PAPER_COUNTERPART.get(experiment)
    return lookup("paper", counterpart, imbalance) if counterpart else None
