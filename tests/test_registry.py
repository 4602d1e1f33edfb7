"""Every registry entry trains in the smoke profile and writes a complete summary."""
import pytest

from lt_lib.learn.exits import SWEEP_THRESHOLDS
from lt_lib.learn.experiments import EXPERIMENTS, resolve
from lt_lib.runs.train import train


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_trains_in_the_smoke_profile(name, tmp_path):
    exp = EXPERIMENTS[name]
    cfg = resolve(name, exp.ratios[0], "smoke", epochs=1)
    s = train(cfg, results_dir=tmp_path / "r", runs_dir=tmp_path / "k", quiet=True)
    assert s["status"] in ("completed", "diverged") and s["epochs_completed"] >= 1
    assert 0 <= s["final"]["overall"] <= 100 and len(s["final"]["per_class"]) == 10
    if not cfg.early_exits:
        assert s["exits"] is None
        return
    ex = s["exits"]
    assert (ex["train_threshold"], ex["inference_threshold"]) == (cfg.train_threshold, cfg.inference_threshold)
    assert len(ex["fraction"]) == 3 and sum(ex["fraction"]) == pytest.approx(1.0)
    assert 0 < ex["flops_ratio"] <= 1 and ex["flops_per_exit"] == sorted(ex["flops_per_exit"])
    assert [r["threshold"] for r in ex["sweep"]] == list(SWEEP_THRESHOLDS)
    assert ex["sweep"][-1]["flops_ratio"] == 1.0  # threshold 1.0: every image runs to the final exit
    assert ex["best_threshold"]["selected_on"] == "test set"
    assert ex["best_threshold"]["overall"] == max(r["overall"] for r in ex["sweep"])


def test_report_settings_of_the_hybrids():
    m7 = resolve("model7", 100)
    assert (m7.aggregation, m7.criterion, m7.train_threshold, m7.inference_threshold) == ("routed", "ce", 0.9, 0.5)
    assert m7.simulated and m7.autoaugment and m7.label_smoothing == 0.1 and m7.widths == (16, 32, 48)
    assert (m7.exit_head, m7.head) == ("linear", "reslt")
    for name, thresholds in (("model2", (0.2, 0.25)), ("model3", (0.8, 0.25)), ("model4", (0.5, 0.5))):
        cfg = resolve(name, 100)
        assert (cfg.train_threshold, cfg.inference_threshold) == thresholds and cfg.criterion == "ldam"
    for name in ("model5", "model6", "model14", "model15", "model16"):
        cfg = resolve(name, 100)
        assert cfg.widths == (15, 30, 63) and cfg.exit_head == "reslt" and cfg.head == "reslt" and not cfg.simulated
    assert resolve("model8", 100).mixup and not resolve("model8", 100).autoaugment
    elf = resolve("elf-ldam-drw", 100)
    assert elf.drw and elf.criterion == "ldam" and elf.aggregation == "accumulate" and elf.train_threshold == 0.2
    assert resolve("elf-ldam-drw-lr0.01", 100).lr == 0.01
