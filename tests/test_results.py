import json

import pytest

from lt_lib.errors import LtError
from lt_lib.learn.experiments import config_hash
from lt_lib.runs.results import ResultsStore, load_results


def summary(run_id="ce-ir100-s0-quick", lr=0.1, overall=50.0):
    config = {"epochs": 30, "lr": lr}
    return {"run_id": run_id, "experiment": "ce", "imbalance": 100.0, "seed": 0, "profile": "quick",
            "status": "completed", "epochs_completed": 30, "divergence": None,
            "final": {"overall": overall, "many": 80.0, "medium": 40.0, "few": 30.0, "per_class": [overall] * 10},
            "best": {"overall": overall + 1, "epoch": 28}, "config": config, "config_hash": config_hash(config),
            "provenance": {"git_commit": "deadbeef", "device": "cpu:test", "wall_seconds": 12.5}}


def test_round_trip_and_history(tmp_path):
    store = ResultsStore(tmp_path)
    path = store.write(summary(), [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.5}])
    assert json.loads(path.read_text()) == summary() == store.read("ce-ir100-s0-quick")
    assert store.history("ce-ir100-s0-quick")["train_loss"].tolist() == [2.0, 1.5]
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries
    assert store.read("nothing-here") is None


def test_a_different_config_is_never_overwritten_without_force(tmp_path):
    store = ResultsStore(tmp_path)
    first, other = summary(lr=0.1), summary(lr=0.05, overall=60.0)
    store.write(first, [])
    assert store.check_writable("ce-ir100-s0-quick", first["config_hash"]) == first  # same config: a cache hit
    expected = f"different config \\(hash {first['config_hash']}, this one {other['config_hash']}\\); pass --force"
    with pytest.raises(LtError, match=expected):
        store.write(other, [])
    assert store.read("ce-ir100-s0-quick")["final"]["overall"] == 50.0
    store.write(other, [], force=True)
    assert store.read("ce-ir100-s0-quick")["final"]["overall"] == 60.0


def test_hashes_cover_only_settings_that_differ_from_the_defaults():
    from lt_lib.learn.experiments import TrainConfig, resolve

    cfg = resolve("reslt-a0.95", 100, "quick")
    stored = cfg.to_dict()
    assert config_hash(stored) == cfg.config_hash
    # a stored config written before a setting existed (the setting at its default) keeps its hash
    trimmed = {k: v for k, v in stored.items() if k != "collapse_patience"}
    assert config_hash(trimmed) == cfg.config_hash
    # any real change of a setting changes it
    assert config_hash({**stored, "alpha": 0.9}) != cfg.config_hash
    assert config_hash({**stored, "collapse_patience": 5}) != cfg.config_hash
    assert TrainConfig().config_hash == config_hash({})


def test_load_results_frame(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(summary("ce-ir100-s0-quick", overall=50.0), [])
    store.write(summary("ce-ir100-s1-quick", overall=52.0), [])
    df = load_results(tmp_path)
    assert df["run_id"].tolist() == ["ce-ir100-s0-quick", "ce-ir100-s1-quick"]
    assert df["overall"].tolist() == [50.0, 52.0] and df["best_epoch"].tolist() == [28, 28]
    assert load_results(tmp_path / "missing").empty
