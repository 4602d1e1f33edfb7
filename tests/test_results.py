import json

import pytest

from lt_lib.errors import LtError
from lt_lib.results import ResultsStore, load_results


def summary(run_id="ce-ir100-s0-quick", h="abc", overall=50.0):
    return {"run_id": run_id, "experiment": "ce", "imbalance": 100.0, "seed": 0, "profile": "quick",
            "status": "completed", "epochs_completed": 30, "divergence": None,
            "final": {"overall": overall, "many": 80.0, "medium": 40.0, "few": 30.0, "per_class": [overall] * 10},
            "best": {"overall": overall + 1, "epoch": 28}, "config": {"epochs": 30}, "config_hash": h,
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
    store.write(summary(h="abc"), [])
    assert store.check_writable("ce-ir100-s0-quick", "abc") == summary(h="abc")  # same config: a cache hit
    with pytest.raises(LtError, match="different config \\(hash abc, this one xyz\\); pass --force"):
        store.write(summary(h="xyz", overall=60.0), [])
    assert store.read("ce-ir100-s0-quick")["final"]["overall"] == 50.0
    store.write(summary(h="xyz", overall=60.0), [], force=True)
    assert store.read("ce-ir100-s0-quick")["final"]["overall"] == 60.0


def test_load_results_frame(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(summary("ce-ir100-s0-quick", overall=50.0), [])
    store.write(summary("ce-ir100-s1-quick", overall=52.0), [])
    df = load_results(tmp_path)
    assert df["run_id"].tolist() == ["ce-ir100-s0-quick", "ce-ir100-s1-quick"]
    assert df["overall"].tolist() == [50.0, 52.0] and df["best_epoch"].tolist() == [28, 28]
    assert load_results(tmp_path / "missing").empty
