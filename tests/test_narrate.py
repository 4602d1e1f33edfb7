"""Generated conclusions agree in sign and size with the tables they sum up."""
import pandas as pd

from lt_lib.course.narrate import exit_words, gain_words, versus


def calibration_table(ldam_best, ce_best, runs=("full, 200 epochs", "full, 200 epochs")):
    return pd.DataFrame([
        {"experiment": "ldam-drw", "ratio": 100, "runs": runs[0], "setting": "current",
         "ours (best epoch, test-selected)": ldam_best, "published (best epoch)": 77.03,
         "gap (ours best - published)": ldam_best - 77.03},
        {"experiment": "ce", "ratio": 100, "runs": runs[1], "setting": "current",
         "ours (best epoch, test-selected)": ce_best, "published (best epoch)": 70.36,
         "gap (ours best - published)": ce_best - 70.36}])


def test_a_reproduced_gain_is_called_so_with_the_common_offset():
    words = gain_words(calibration_table(72.25, 65.67), "ldam-drw", "ce", 100)
    assert "gains +6.58 points over ce" in words and "+6.67 published" in words and "the gain is reproduced" in words
    assert "both sit about 4.7 points below" in words and "the method's own effect survives it" in words


def test_a_smaller_gain_and_a_mix_of_profiles_are_said_as_they_are():
    smaller = gain_words(calibration_table(67.0, 65.67), "ldam-drw", "ce", 100)
    assert "the gain is smaller here" in smaller and "part of the method's own gain is lost" in smaller
    assert "survives" not in smaller
    assert "5.34 points below the published gain" in gain_words(calibration_table(67.0, 65.67), "ldam-drw", "ce", 100)
    mixed = gain_words(calibration_table(62.2, 65.67, runs=("quick, 30 epochs", "full, 200 epochs")), "ldam-drw",
                       "ce", 100)
    assert "different profiles" in mixed and "gains" not in mixed


def test_versus_names_the_sign_and_the_size():
    assert versus(53.24, 28.0, "that") == "25.24 points above that"
    assert versus(28.0, 53.24, "that") == "25.24 points below that"
    assert versus(50.2, 50.0, "that").startswith("level with that")


class FakeNotebook:
    def __init__(self, summaries):
        self.summaries = summaries

    def summary(self, row):
        return self.summaries[row["run_id"]]


def exit_summary(overall, no_exit, fraction=(0.4, 0.3, 0.3), per_class=None):
    return {"status": "completed", "final": {"overall": overall, "per_class": per_class or [overall] * 10},
            "exits": {"fraction": list(fraction), "accuracy": [60.0, 50.0, 40.0], "flops_ratio": 0.55,
                      "sweep": [{"threshold": 0.5, "overall": overall}, {"threshold": 1.0, "overall": no_exit}]}}


def test_exit_words_say_whether_the_exits_help_or_cost():
    rows = pd.DataFrame([{"run_id": r, "experiment": r, "imbalance": 100.0, "status": "completed", "overall": o,
                          "many": o, "medium": o, "few": o, "profile": "quick", "shown as": "quick, 30 epochs",
                          "setting": "current"} for r, o in (("elf", 53.24), ("hybrid", 23.52), ("one", 10.0))])
    nb = FakeNotebook({"elf": exit_summary(53.24, 28.0), "hybrid": exit_summary(23.52, 39.12),
                       "one": exit_summary(10.0, 10.0, (1.0, 0.0, 0.0), [0.0] * 3 + [100.0] + [0.0] * 6)})
    elf, hybrid, one = exit_words(nb, rows)
    assert "give 28.00%, 25.24 points above that: the early exits help (the deepest exit alone is worse)" in elf
    assert "give 39.12%, 15.60 points below that: the early exits cost accuracy" in hybrid
    assert "Every test image is answered class 3 (cat)" in one and "change little" in one
