"""Analyses on stored predictions, against hand-computed cases."""
import numpy as np
import pytest

from lt_lib.course import analysis as A


def test_confusion_counts_and_rows():
    pred, labels = np.array([0, 1, 1, 2, 2, 2]), np.array([0, 1, 2, 2, 2, 0])
    m = A.confusion(pred, labels, classes=3)
    assert m.tolist() == [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    n = A.confusion(pred, labels, normalize=True, classes=3)
    assert n[2].tolist() == pytest.approx([0, 1 / 3, 2 / 3]) and n.sum(1).tolist() == pytest.approx([1, 1, 1])
    assert A.confusion(np.array([0]), np.array([0]), normalize=True, classes=2)[1].tolist() == [0, 0]  # empty row


def test_reliability_bins_and_ece_by_hand():
    """Four images: two with confidence 0.9 (one right), two with 0.6 (both right)."""
    def logits_for(conf, cls):  # two classes: softmax gives conf on cls
        z = np.zeros(2)
        z[cls] = np.log(conf / (1 - conf))
        return z

    logits = np.stack([logits_for(0.9, 0), logits_for(0.9, 0), logits_for(0.6, 1), logits_for(0.6, 1)])
    labels = np.array([0, 1, 1, 1])
    r = A.reliability(logits, labels, bins=10)
    t = r["table"].set_index("bin")
    assert t.loc["0.8-0.9", "images"] == 2 and t.loc["0.8-0.9", "accuracy"] == 0.5
    assert t.loc["0.5-0.6", "images"] == 2 and t.loc["0.5-0.6", "accuracy"] == 1.0
    # ECE = 0.5 |0.5 - 0.9| + 0.5 |1.0 - 0.6| = 0.4
    assert r["ece"] == pytest.approx(0.4) and r["accuracy"] == 0.75
    assert A.reliability(logits * 0.0, labels)["mean_confidence"] == pytest.approx(0.5)


def test_sweep_moves_images_between_exits_as_the_threshold_says():
    """Two exits, three images: exit 1 is 0.88 sure of image 0 (right), 0.73 of image 1 (wrong), unsure of
    image 2; exit 2 is right on all."""
    logits = np.zeros((2, 3, 2))
    logits[0, 0] = [2.0, 0.0]    # p = 0.881 on class 0
    logits[0, 1] = [1.0, 0.0]    # p = 0.731 on class 0, label 1
    logits[1] = [[5, 0], [0, 5], [0, 5]]
    p = {"logits": logits, "predictions": logits.argmax(-1), "exit": np.zeros(3, dtype=np.int64),
         "labels": np.array([0, 1, 1])}
    s = A.sweep(p, costs=[1.0, 4.0], thresholds=[0.5, 0.8, 1.0]).set_index("threshold")
    assert s.loc[0.5, "overall"] == pytest.approx(200 / 3)  # images 0 and 1 leave at exit 1; image 1 wrong
    assert s.loc[0.8, "overall"] == 100.0 and s.loc[0.8, "exit 1 share"] == pytest.approx(1 / 3)
    assert s.loc[0.8, "flops_ratio"] == pytest.approx((1 / 3 * 1 + 2 / 3 * 4) / 4)
    assert s.loc[1.0, "flops_ratio"] == 1.0 and s.loc[1.0, "overall"] == 100.0


def test_stored_predictions_reproduce_the_summary_sweep(tmp_path):
    """A smoke early-exit run: the sweep from its stored logits gives the accuracies its summary recorded
    (float16 logits: equal but for images exactly at a threshold)."""
    from lt_lib.learn.experiments import resolve
    from lt_lib.runs.results import ResultsStore
    from lt_lib.runs.train import train

    cfg = resolve("elf-ldam-drw", 10, "smoke", epochs=3)
    s = train(cfg, results_dir=tmp_path / "r", runs_dir=tmp_path / "k", quiet=True)
    p = ResultsStore(tmp_path / "r").predictions(cfg.run_id)
    ours = A.sweep(p, s["exits"]["flops_per_exit"], [r["threshold"] for r in s["exits"]["sweep"]],
                   cfg.confidence_scale)
    assert ours["overall"].tolist() == pytest.approx([r["overall"] for r in s["exits"]["sweep"]], abs=1.0)
    assert 100 * (A.at_exit(p) == p["labels"]).mean() == pytest.approx(s["final"]["overall"])


def test_per_class_against_class_size():
    s = {"data": {"counts": [5000, 50] + [1] * 8}, "final": {"per_class": [90.0, 10.0] + [0.0] * 8}}
    t = A.per_class_vs_size({"ce": s})
    assert t.loc[0, "training images"] == 5000 and t.loc[1, "accuracy"] == 10.0 and len(t) == 10
