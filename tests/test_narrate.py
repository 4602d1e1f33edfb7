"""Generated conclusions agree in sign and size with the tables they sum up."""
import pandas as pd

from lt_lib.course.narrate import exit_words, gain_words, pair_words, runs_listed, split_words, versus


def calibration_table(ldam_best, ce_best, runs=("full, 200 epochs", "full, 200 epochs")):
    return pd.DataFrame([
        {"experiment": "ldam-drw", "ratio": 100, "runs": runs[0], "setting": "current",
         "ours (best epoch, test-selected)": ldam_best, "published": 77.03,
         "published as": "best epoch", "gap (like for like)": ldam_best - 77.03},
        {"experiment": "ce", "ratio": 100, "runs": runs[1], "setting": "current",
         "ours (best epoch, test-selected)": ce_best, "published": 70.36,
         "published as": "best epoch", "gap (like for like)": ce_best - 70.36}])


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


def test_runs_set_aside_are_listed_with_their_schedule_or_not_at_all():
    rows = pd.DataFrame([
        {"experiment": "reslt-a0.99", "imbalance": 100.0, "overall": 28.45, "shown as": "quick, 30 epochs",
         "setting": "current"},
        {"experiment": "ce", "imbalance": 50.0, "overall": 58.175, "shown as": "full, 200 epochs",
         "setting": "old setting"}])
    assert runs_listed("Left out", rows) == (
        "Left out: reslt-a0.99 at ratio 100 (quick, 30 epochs): 28.45%; "
        "ce at ratio 50 (full, 200 epochs, old setting): 58.17%.")
    assert runs_listed("Left out", rows.iloc[:0]) == ""


class FakeNotebook:
    def __init__(self, summaries):
        self.summaries = summaries

    def summary(self, row):
        return self.summaries[row["run_id"]]

    def config(self, row):
        return None  # no registry config: no saturation sentence


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
    assert "give 28.00%; with its exits it ends 25.24 points above that: the early exits help (the deepest exit alone is worse)" in elf
    assert "give 39.12%; with its exits it ends 15.60 points below that: the early exits cost accuracy" in hybrid
    assert "Every test image is answered class 3 (cat)" in one and "change little" in one


def exit_row(run_id, overall, profile="quick"):
    return {"run_id": run_id, "experiment": run_id, "imbalance": 100.0, "status": "completed", "overall": overall,
            "many": overall, "medium": overall, "few": overall, "profile": profile, "shown as": profile}


def test_pair_words_find_when_the_exits_not_the_network_make_the_difference():
    # the notebook 08 case: model 8 below model 7 as trained, above it with no early exit
    nb = FakeNotebook({"m8": exit_summary(23.52, 39.12, (0.417, 0.0, 0.583)),
                       "m7": exit_summary(29.94, 34.34, (0.141, 0.0, 0.859))})
    words = pair_words(nb, exit_row("m8", 23.52), exit_row("m7", 29.94), "Mixup (model 8)", "AutoAugment (model 7)")
    assert words.startswith("Mixup (model 8) ends 6.42 points below AutoAugment (model 7), but with no early exit")
    assert "39.12% against 34.34% (4.78 points above AutoAugment (model 7))" in words
    assert "comes from the early exits" in words and "sends 41.7% of the test images out at exit 1" in words
    # the same order both ways: the networks differ
    nb = FakeNotebook({"a": exit_summary(50.0, 48.0), "b": exit_summary(40.0, 41.0)})
    same = pair_words(nb, exit_row("a", 50.0), exit_row("b", 40.0), "a", "b")
    assert "the difference is in the networks" in same and "comes from the early exits" not in same
    # a quick run against a full one: no verdict
    mixed = pair_words(nb, exit_row("a", 50.0), exit_row("b", 40.0, "full"), "a", "b")
    assert mixed == "a and b are not comparable yet (a quick run against a full one)."


def test_saturation_words_give_the_cosine_lead_that_passes_the_threshold():
    from types import SimpleNamespace

    from lt_lib.course.narrate import saturation_words

    cfg = SimpleNamespace(confidence_scale=30.0, inference_threshold=0.5)
    words = saturation_words(cfg, 0.989, {"few": 1.77})
    # softmax(30 z) over 10 classes: 1 / (1 + 9 exp(-30 d)) = 0.5  <=>  d = ln 9 / 30 = 0.0732
    assert "Exit 1 takes 98.9% of the images" in words and "a cosine lead of 0.073 over" in words
    assert "(few 1.77%)" in words
    assert "lead of 0.037" in saturation_words(SimpleNamespace(confidence_scale=30.0, inference_threshold=0.25),
                                               0.995, {"few": 10.53})  # ln 3 / 30
    assert saturation_words(cfg, 0.5, {"few": 1.0}) == ""  # exit 1 does not take nearly everything
    assert saturation_words(SimpleNamespace(confidence_scale=1.0, inference_threshold=0.5), 0.99, {"few": 1.0}) == ""


def test_confound_words_name_every_other_difference_from_the_registry():
    from lt_lib.course.narrate import confound_words, setting_differences

    assert setting_differences("model6", "model14") == {"autoaugment": (False, True),
                                                        "aggregation": ("accumulate", "routed")}
    words = confound_words("model6", "model14", "aggregation")
    assert "is not a test of aggregation alone: they also differ in autoaugment (False against True)" in words
    assert confound_words("model6", "model6", "aggregation").endswith("says nothing about it.")


class RoutedNotebook(FakeNotebook):
    """A stored routed run: its config, per-epoch training shares and every exit's test predictions."""

    def __init__(self, summary, cfg, history, outputs):
        super().__init__({"r": summary})
        self.cfg, self.hist, self.outputs = cfg, history, outputs

    def config(self, row):
        return self.cfg

    def history(self, row):
        return self.hist

    def predictions(self, row):
        return self.outputs


def test_routed_words_say_what_the_routed_rule_left_each_exit_to_learn_from():
    from types import SimpleNamespace

    import numpy as np

    from lt_lib.course.narrate import routed_words

    counts = [40, 30, 20, 10, 8, 6, 5, 4, 3, 2]  # 128 training images
    summary = {"data": {"counts": counts, "train_images": 128}, "exits": {"fraction": [0.5, 0.2, 0.3]}}
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_exit_1": [3 / 128, 1 / 128, 0.0],
                            "train_exit_2": [7 / 128, 6 / 128, 6 / 128]})
    labels = np.repeat(np.arange(10), 10)
    last = labels.copy()
    last[labels == 5] = 0
    last[(labels == 5) & (np.arange(100) % 10 < 3)] = 5  # the last exit right on 3 of 10 dogs
    outputs = {"labels": labels, "predictions": np.stack([np.where(np.arange(100) < 80, 1, 2), np.full(100, 5), last])}
    cfg = SimpleNamespace(early_exits=True, aggregation="routed", train_threshold=0.9)
    words = routed_words(RoutedNotebook(summary, cfg, history, outputs), {}, summary)
    assert words.startswith(" Under the routed rule an early exit learns only from the training images it already "
                            "answers right with confidence above 0.9: ")
    assert ("exit 1 took 4 training images in all, none after epoch 2, so it had nothing to learn from (it answers "
            "class 1 (automobile) for 80.0% of the test images)") in words
    assert ("exit 2 answers class 5 (dog) for every test image, and took exactly the 6 training images of that class "
            "in every epoch from epoch 2 to 3, the only ones it can answer right, so it never learns another") in words
    assert words.endswith("So the last exit is trained on none of those images: with no early exit it is right on "
                          "30.0% of class 5 (dog).")
    # locked from its first epoch: said so, the question a longer schedule asks
    locked = RoutedNotebook(summary, cfg, history.assign(train_exit_2=6 / 128), outputs)
    assert "images of that class in every one of its 3 epochs, the only ones" in routed_words(locked, {}, summary)
    # an exit that takes as many images as its class has, but does not answer that class for every image
    outputs["predictions"][1][0] = 4
    assert "exit 2" not in routed_words(RoutedNotebook(summary, cfg, history, outputs), {}, summary)
    # no stored outputs: what the history alone shows
    none = RoutedNotebook(summary, cfg, history.assign(train_exit_1=0.0), None)
    assert "exit 1 never took a training image, so it had nothing to learn from." in routed_words(none, {}, summary)
    # accumulated losses: every exit learns from every image that reaches it
    acc = RoutedNotebook(summary, SimpleNamespace(early_exits=True, aggregation="accumulate", train_threshold=0.9),
                         history, outputs)
    assert routed_words(acc, {}, summary) == ""


def split_summary(overall, many, medium, few):
    return {"final": {"overall": overall, "many": many, "medium": medium, "few": few}}


def test_split_words_weigh_the_splits_and_name_the_trade():
    # ldam-drw against ce at ratio 10 (results/, full profile): 0.3 (-2.70) + 0.3 (-1.80) + 0.4 (+4.47) = +0.44
    ldam, ce = split_summary(83.22, 89.07, 75.03, 84.97), split_summary(82.78, 91.77, 76.83, 80.50)
    words = split_words(ldam, ce, "ldam-drw", "ce", 10)
    assert "many -2.70, medium -1.80, few +4.47; overall +0.44 = 0.3 x many + 0.3 x medium + 0.4 x few" in words
    assert "the few-shot classes add +1.79 to the overall, the many- and medium-shot ones take 1.35" in words
    assert "from the head to the tail" in words and "the tail had 19.50 points to win back" in words
    # ratio 100: medium gains, so the head takes less: 0.4 x 16.39 = +6.56, 6.56 - 6.30 = 0.26
    ratio100 = split_words(split_summary(71.22, 88.57, 67.13, 61.27), split_summary(64.92, 91.07, 65.50, 44.88),
                           "ldam-drw", "ce", 100)
    assert "many -2.50, medium +1.63, few +16.39" in ratio100 and "add +6.56 to the overall" in ratio100
    assert "medium-shot ones take 0.26" in ratio100
    assert "ce reaches 80.50% on the few-shot classes" in words
    better = split_words(split_summary(70.0, 92.0, 70.0, 52.5), split_summary(65.0, 91.0, 65.0, 45.0), "x", "ce", 100)
    assert "loses on no split" in better and "head to the tail" not in better
    worse = split_words(split_summary(60.0, 90.0, 60.0, 40.0), split_summary(65.0, 91.0, 65.0, 45.0), "x", "ce", 100)
    assert "gains on no split" in worse
