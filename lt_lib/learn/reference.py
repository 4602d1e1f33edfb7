"""Published numbers, as data: the report's tables and the ResLT paper's, each with its source.

``REFERENCE`` has one row per (who, experiment, imbalance): who is ``report`` (the report being
reproduced) or ``paper`` (a published paper: the ResLT paper's Table 5, LDAM-DRW's Table 2, He et al.);
accuracies in percent; ``None`` where the source gives no number. ``SELECTION`` says which epoch each
kind of number is: the papers' official codes keep the best test epoch, the report's logs the last. The paper's baselines (Mixup, Focal, LDAM, BBN, CB-Focal, CE+DRW, CE+DRS, LDAM+DRW)
are rows of who ``paper`` too; ``PAPER_BASELINES`` names them. ``reference_table(experiments, ratios)`` returns them as a DataFrame for notebooks.
"""
from __future__ import annotations

import pandas as pd

_R000 = "seed 000 (ResLT implementation report)"
_P003 = "seed 003 (ResLT paper, Table 5, ResNet-32)"
_R002 = "seed 002 (hybrid report)"
_R004 = "seed 004 (ELF implementation report)"
_LDAM = "Cao et al. 2019 (LDAM-DRW), Table 2, CIFAR-10-LT ResNet-32"
_HE = "He et al. 2016 (Deep Residual Learning), Table 6: ResNet-32, 7.51% error"

# Which epoch a published number is: both official codes print the best test accuracy over the epochs
# (LDAM-DRW cifar_train.py:227-228, ResLT cifarTrain_reslt_cifar10.py:198-199); the report's numbers
# are the last epoch of its logs (seed 002: "Epoch 200 ... Test Acc: 56.90%" for Model 1's 56.9).
SELECTION = {"paper": "best epoch", "report": "final epoch"}

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
    ("report", "elf-ldam-drw", 100, 72.29, None, None, None, f"{_R004}, 0.1 LR table; {_R002}, Phase 6 table"),
    ("report", "elf-ldam-drw", 50, 76.74, None, None, None,
     f"{_R002}, Phase 6 table (004's 0.1 LR table says 76.45)"),
    ("report", "elf-ldam-drw", 10, 82.67, None, None, None, f"{_R004}, 0.1 LR table; {_R002}, Phase 6 table"),
    ("report", "elf-ldam-drw-lr0.01", 100, 69.19, None, None, None, f"{_R004}, 0.01 LR table"),
    ("report", "elf-ldam-drw-lr0.01", 50, 74.02, None, None, None, f"{_R004}, 0.01 LR table"),
    ("report", "elf-ldam-drw-lr0.01", 10, 80.82, None, None, None, f"{_R004}, 0.01 LR table"),
    ("report", "model1", 100, 56.9, None, None, None, f"{_R002}, Model 1"),
    ("report", "model2", 100, 64.94, None, None, None, f"{_R002}, Model 2"),
    ("report", "model3", 100, 68.09, None, None, None, f"{_R002}, Model 3"),
    ("report", "model4", 100, None, None, None, None, f"{_R002}, Model 4: CRASHED (10.00% from epoch 111)"),
    ("report", "model7", 100, 78.99, 92.63, 72.43, 73.67, f"{_R002}, Model 7 table"),
    ("report", "model5", 100, 60.26, 29.33, 57.1, 85.83, f"{_R002}, Model 5 table"),
    ("report", "model6", 100, 62.71, 79.8, 56.0, 54.8, f"{_R002}, Model 6 table"),
    ("report", "model14", 100, 78.94, 93.0, 72.3, 73.38, f"{_R002}, Phase 4 table"),
    ("report", "model15", 50, 83.36, 92.3, 75.83, 82.3, f"{_R002}, Phase 4 table"),
    ("report", "model16", 10, 89.32, 90.27, 81.93, 93.62, f"{_R002}, Phase 4 table"),
    ("report", "model8", 100, 79.59, 90.4, 69.93, 78.72, f"{_R002}, Phase 5 table"),
    ("report", "model12", 50, 82.89, 89.9, 75.97, 82.83, f"{_R002}, Phase 5 table"),
    ("report", "model13", 10, 85.77, 83.63, 76.43, 94.38, f"{_R002}, Phase 5 table"),
    ("paper", "elf", 100, 78.10, None, None, None, f"{_P003}, ELF(LDAM)+DRW row"),
    ("paper", "elf", 50, 82.40, None, None, None, f"{_P003}, ELF(LDAM)+DRW row"),
    ("paper", "elf", 10, 88.00, None, None, None, f"{_P003}, ELF(LDAM)+DRW row"),
    ("paper", "mixup", 100, 73.06, None, None, None, f"{_P003}, Mixup row (a baseline)"),
    ("paper", "mixup", 50, 77.82, None, None, None, f"{_P003}, Mixup row (a baseline)"),
    ("paper", "mixup", 10, 87.10, None, None, None, f"{_P003}, Mixup row (a baseline)"),
    ("paper", "focal", 100, 70.38, None, None, None, f"{_P003}, Focal row (a baseline)"),
    ("paper", "focal", 50, 76.72, None, None, None, f"{_P003}, Focal row (a baseline)"),
    ("paper", "focal", 10, 86.66, None, None, None, f"{_P003}, Focal row (a baseline)"),
    ("paper", "ldam", 100, 73.35, None, None, None, f"{_P003}, LDAM row (a baseline)"),
    ("paper", "ldam", 10, 86.96, None, None, None, f"{_P003}, LDAM row (a baseline)"),
    ("paper", "bbn", 100, 79.82, None, None, None, f"{_P003}, BBN row (a baseline)"),
    ("paper", "bbn", 50, 82.18, None, None, None, f"{_P003}, BBN row (a baseline)"),
    ("paper", "bbn", 10, 88.32, None, None, None, f"{_P003}, BBN row (a baseline)"),
    ("paper", "cb-focal", 100, 74.57, None, None, None, f"{_P003}, CB-Focal row (a baseline)"),
    ("paper", "cb-focal", 50, 79.27, None, None, None, f"{_P003}, CB-Focal row (a baseline)"),
    ("paper", "cb-focal", 10, 87.10, None, None, None, f"{_P003}, CB-Focal row (a baseline)"),
    ("paper", "ce-drw", 100, 76.34, None, None, None, f"{_P003}, CE+DRW row (a baseline)"),
    ("paper", "ce-drw", 50, 79.97, None, None, None, f"{_P003}, CE+DRW row (a baseline)"),
    ("paper", "ce-drw", 10, 87.56, None, None, None, f"{_P003}, CE+DRW row (a baseline)"),
    ("paper", "ce-drs", 100, 75.61, None, None, None, f"{_P003}, CE+DRS row (a baseline)"),
    ("paper", "ce-drs", 50, 79.81, None, None, None, f"{_P003}, CE+DRS row (a baseline)"),
    ("paper", "ce-drs", 10, 87.38, None, None, None, f"{_P003}, CE+DRS row (a baseline)"),
    ("paper", "ldam-drw", 100, 77.03, None, None, None, f"{_P003}, LDAM+DRW row (a baseline)"),
    ("paper", "ldam-drw", 50, 81.03, None, None, None, f"{_P003}, LDAM+DRW row (a baseline)"),
    ("paper", "ldam-drw", 10, 88.16, None, None, None, f"{_P003}, LDAM+DRW row (a baseline)"),
    ("paper", "ce", 100, 70.36, None, None, None, f"{_LDAM}, ERM row"),
    ("paper", "ce", 10, 86.39, None, None, None, f"{_LDAM}, ERM row"),
    ("paper", "resnet32-balanced", 1, 92.49, None, None, None, _HE),
    ("paper", "reslt", 100, 80.44, None, None, None, _P003),
    ("paper", "reslt", 50, 83.46, None, None, None, _P003),
    ("paper", "reslt", 10, 89.06, None, None, None, _P003),
    ("paper", "reslt-strong-aug", 100, 82.40, None, None, None, f"{_P003}, mixup + autoaugment"),
    ("paper", "reslt-strong-aug", 50, 85.17, None, None, None, f"{_P003}, mixup + autoaugment"),
    ("paper", "reslt-strong-aug", 10, 89.70, None, None, None, f"{_P003}, mixup + autoaugment"),
]

PAPER_BASELINES = ("mixup", "focal", "ldam", "bbn", "cb-focal", "ce-drw", "ce-drs", "ldam-drw")

COLUMNS = ["who", "experiment", "imbalance", "overall", "many", "medium", "few", "source"]
REFERENCE = pd.DataFrame(_ROWS, columns=COLUMNS)

# Which paper row an experiment of ours is compared with: ELF for the ELF baselines, ResLT for the
# rest (the report compares its hybrids with the ResLT paper's accuracy).
PAPER_COUNTERPART = {name: "reslt" for name in (
    "reslt-a0.9", "reslt-a0.95", "reslt-a0.99", "reslt-a0.995", "reslt-a0.95-aa", "reslt-a0.95-aa-ls", "reslt-paper",
    "model1", "model2", "model3", "model4", "model5", "model6", "model7", "model8", "model12", "model13", "model14",
    "model15", "model16")}
PAPER_COUNTERPART.update({"elf-ldam-drw": "elf", "elf-ldam-drw-lr0.01": "elf", "ce": "ce",
                          "ce-balanced": "resnet32-balanced", "ldam-drw": "ldam-drw"})
# The calibration runs: each against the published number of the same method, same network, same schedule.
CALIBRATION = ("ce-balanced", "ce", "ldam-drw", "reslt-paper", "elf-ldam-drw")


def lookup(who: str, experiment: str, imbalance: float, metric: str = "overall"):
    """One published number, or None where the source gives none."""
    rows = REFERENCE[(REFERENCE.who == who) & (REFERENCE.experiment == experiment)
                     & (REFERENCE.imbalance == float(imbalance))]
    if rows.empty:
        return None
    value = rows.iloc[0][metric]
    return None if pd.isna(value) else float(value)


def paper_overall(experiment: str, imbalance: float):
    """The published (best-epoch) number our experiment is compared with, or None."""
    counterpart = PAPER_COUNTERPART.get(experiment)
    return lookup("paper", counterpart, imbalance) if counterpart else None


def published_by(experiment: str) -> str:
    """Whose number a calibration run is compared with: ``paper``, or ``report`` for ELF (seed 004's own
    run, the implementation we follow). ``SELECTION[published_by(e)]`` says which epoch it is."""
    return "report" if experiment == "elf-ldam-drw" else "paper"


def published(experiment: str, imbalance: float) -> tuple[float | None, str | None]:
    """(number, source) of the published number a calibration run is compared with: the paper's, or
    for ELF the report's own implementation (seed 004), whose code is the one we follow."""
    who = published_by(experiment)
    value = lookup(who, experiment, imbalance) if who == "report" else paper_overall(experiment, imbalance)
    if value is None:
        return None, None
    key = experiment if who == "report" else PAPER_COUNTERPART[experiment]
    rows = REFERENCE[(REFERENCE.who == who) & (REFERENCE.experiment == key) & (REFERENCE.imbalance == float(imbalance))]
    return value, rows.iloc[0]["source"]


# Per-channel statistics of the original CIFAR-10 training pixels (in [0, 1]): what the offline JPEG copy
# (quality 75, 4:2:0 chroma subsampling) is compared with in notebook 01.
ORIGINAL_PIXELS = {"mean": (0.4914, 0.4822, 0.4465), "std": (0.2470, 0.2435, 0.2616),
                   "source": "the original CIFAR-10 training set (the widely used per-channel values)"}
