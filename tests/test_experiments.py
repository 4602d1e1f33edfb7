import pytest

from lt_lib.errors import LtError
from lt_lib.learn.data import (
    OFFICIAL_BRANCH_CLASSES,
    REPORT_BRANCH_CLASSES,
    long_tail_counts,
)
from lt_lib.learn.experiments import EXPERIMENTS, PROFILES, resolve
from lt_lib.runs.train import build_loss, build_model


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_builds_its_model_and_loss(name):
    cfg = resolve(name, 100, "full")
    model, loss = build_model(cfg), build_loss(cfg, long_tail_counts(100))
    assert cfg.epochs == 200 and cfg.batch_size == 128 and cfg.lr == (0.01 if name.endswith("lr0.01") else 0.1)
    if not cfg.early_exits:
        assert (cfg.head == "reslt") == (cfg.loss == "reslt") == loss.reslt_exits[0]
    assert model.widths == cfg.widths


def test_report_settings():
    for alpha in (0.9, 0.95, 0.99, 0.995):
        cfg = resolve(f"reslt-a{alpha:g}", 100)
        assert (cfg.alpha, cfg.widths, cfg.branch_style, cfg.branch_norm) == (alpha, (16, 32, 48), "split", "per_branch")
        assert cfg.branch_classes == REPORT_BRANCH_CLASSES and not cfg.normalize and not cfg.autoaugment
        assert cfg.weight_decay == 2e-4 and not cfg.nesterov
    final = resolve("reslt-a0.95-aa-ls", 50)
    assert final.autoaugment and final.label_smoothing == 0.1


def test_paper_setting_depends_on_the_ratio():
    for ratio, alpha in ((100, 0.998), (50, 0.998), (10, 0.96)):
        cfg = resolve("reslt-paper", ratio)
        assert cfg.alpha == alpha and cfg.widths == (16, 32, 64) and cfg.branch_style == "bn"
        assert cfg.branch_norm == "pooled" and cfg.branch_classes == OFFICIAL_BRANCH_CLASSES
        assert cfg.weight_decay == 5e-4 and cfg.nesterov and cfg.normalize


def test_run_ids_and_config_hashes():
    a = resolve("ce", 100, "quick", seed=2)
    assert a.run_id == "ce-ir100-s2-quick"
    assert resolve("ce", 100, "quick", seed=2, epochs=30).run_id == a.run_id
    assert resolve("ce", 100, "quick", epochs=3).run_id == "ce-ir100-s0-quick-e3"
    assert resolve("ce", 12.5, "smoke").run_id == "ce-ir12.5-s0-smoke"
    assert a.config_hash == resolve("ce", 100, "quick", seed=2).config_hash
    assert a.config_hash != resolve("ce", 100, "quick", seed=3).config_hash
    assert PROFILES["smoke"].source == "synthetic" and resolve("ce", 10, "smoke").source == "synthetic"


def test_bad_names_are_one_line_errors():
    with pytest.raises(LtError, match="unknown experiment 'reslt'; choose one of: ce, "):
        resolve("reslt", 100)
    with pytest.raises(LtError, match="unknown profile 'fast'"):
        resolve("ce", 100, "fast")
    with pytest.raises(LtError, match="leaves the last class no image"):
        resolve("ce", 1e6)
    with pytest.raises(LtError, match="unknown setting"):
        resolve("ce", 100, learning_rate=0.1)
