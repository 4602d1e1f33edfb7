"""A finished run's stored test outputs (predictions.npz), the predict command that makes them from the
weights of runs that finished before, and the CPU plan's view of the store."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from lt_lib.errors import LtError
from lt_lib.learn.experiments import cpu_plan, resolve
from lt_lib.runs.results import PREDICTIONS_LIMIT, ResultsStore
from lt_lib.runs.train import predict_stored, train


@pytest.fixture(scope="module")
def exit_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("exit_run")
    cfg = resolve("elf-ldam-drw", 100, "smoke", epochs=2)
    return cfg, train(cfg, results_dir=base / "r", runs_dir=base / "k", quiet=True), base


def test_a_finished_run_stores_every_exits_test_outputs(exit_run):
    cfg, summary, base = exit_run
    store = ResultsStore(base / "r")
    p = store.predictions(cfg.run_id)
    n = 10 * cfg.synthetic_sizes[1]
    assert p["logits"].shape == (3, n, 10) and p["predictions"].shape == (3, n) and p["exit"].shape == (n,)
    assert summary["predictions"] == "predictions.npz"
    assert (store.path(cfg.run_id) / "predictions.npz").stat().st_size < PREDICTIONS_LIMIT
    # the stored outputs give the summary's numbers: accuracy at each image's exit, per class, exit shares
    at_exit = p["predictions"][p["exit"], np.arange(n)]
    assert 100 * (at_exit == p["labels"]).mean() == pytest.approx(summary["final"]["overall"])
    per_class = [100 * (at_exit[p["labels"] == c] == c).mean() for c in range(10)]
    assert per_class == pytest.approx(summary["final"]["per_class"])
    assert np.bincount(p["exit"], minlength=3) / n == pytest.approx(summary["exits"]["fraction"])
    # each exit's prediction is the argmax of its logits (float16 keeps the argmax but for exact ties)
    assert (p["logits"].argmax(2) == p["predictions"]).mean() > 0.99


def test_predict_remakes_them_from_the_final_weights_exactly(exit_run, tmp_path):
    cfg, summary, base = exit_run
    store = ResultsStore(base / "r")
    before = store.predictions(cfg.run_id)
    assert predict_stored(cfg.run_id, base / "r", base / "k")["done"] == "has its predictions already"
    os.replace(store.path(cfg.run_id) / "predictions.npz", tmp_path / "kept.npz")
    done = predict_stored(cfg.run_id, base / "r", base / "k")["done"]
    assert done.startswith("wrote ") and "as stored" in done
    again = store.predictions(cfg.run_id)
    assert all(np.array_equal(before[k], again[k]) for k in before)


def test_predict_refuses_weights_that_do_not_give_the_stored_accuracy(exit_run, tmp_path):
    import shutil

    cfg, summary, base = exit_run
    shutil.copytree(base / "r", tmp_path / "r")
    shutil.copytree(base / "k", tmp_path / "k")
    path = tmp_path / "r" / cfg.run_id / "summary.json"
    s = json.loads(path.read_text())
    s["final"]["overall"] += 1.0
    path.write_text(json.dumps(s))
    (tmp_path / "r" / cfg.run_id / "predictions.npz").unlink()
    with pytest.raises(LtError, match="its final weights give .* the summary .*; nothing written"):
        predict_stored(cfg.run_id, tmp_path / "r", tmp_path / "k")
    assert not (tmp_path / "r" / cfg.run_id / "predictions.npz").exists()
    (tmp_path / "k" / cfg.run_id / "final.pt").unlink()
    with pytest.raises(LtError, match="no final weights at"):
        predict_stored(cfg.run_id, tmp_path / "r", tmp_path / "k")


def test_damaged_predictions_are_one_line(tmp_path):
    store = ResultsStore(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "predictions.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(LtError, match=r"predictions.npz is damaged .*python -m lt_lib predict x"):
        store.predictions("x")
    assert store.predictions("nothing") is None


def test_the_cpu_plan_puts_calibration_and_headline_runs_first_each_once():
    plan = cpu_plan()
    assert plan[:9] == [("ldam-drw", 100), ("ce", 100), ("reslt-paper", 100), ("elf-ldam-drw", 100),
                        ("reslt-a0.95-aa-ls", 100), ("model7", 100), ("model14", 100), ("model8", 100),
                        ("ce-balanced", 1)]
    assert ("model15", 50) in plan and ("model16", 10) in plan and ("model14", 50) not in plan
    assert len(plan) == len(set(plan))


def test_plan_list_says_where_each_run_stands(tmp_path):
    """Stored, checkpointed, trained by another process right now (its lock held), or to do."""
    from lt_lib.runs.plan import plan_status

    store = ResultsStore(tmp_path / "r")
    ldam = resolve("ldam-drw", 100, "full")
    store.write({"run_id": ldam.run_id, "experiment": "ldam-drw", "imbalance": 100.0, "seed": 0, "profile": "full",
                 "status": "completed", "epochs_completed": 200, "config": ldam.to_dict(),
                 "config_hash": ldam.config_hash, "final": {"overall": 77.0}}, [])
    import torch

    ce = resolve("ce", 100, "full")
    (tmp_path / "k" / ce.run_id).mkdir(parents=True)
    torch.save({"epoch": 40}, tmp_path / "k" / ce.run_id / "checkpoint.pt")
    paper = resolve("reslt-paper", 100, "full")
    (tmp_path / "k" / paper.run_id).mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               f"fd = os.open({str(tmp_path / 'k' / paper.run_id / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'pid x on y'); print('held', flush=True)\n"
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        rows = {r["cfg"].run_id: r for r in plan_status(tmp_path / "r", tmp_path / "k")}
    finally:
        holder.kill()
    assert (rows[ldam.run_id]["state"], rows[ldam.run_id]["detail"]) == ("stored", "completed, 77.00%")
    assert (rows[ce.run_id]["state"], rows[ce.run_id]["detail"]) == ("checkpointed", "epoch 40 of 200")
    assert rows[paper.run_id]["state"] == "training" and rows[paper.run_id]["detail"] == "pid x on y"
    assert rows[resolve("model7", 100, "full").run_id]["state"] == "to do"
    rc = subprocess.run([sys.executable, "-m", "lt_lib", "plan", "--list", "--results", str(tmp_path / "r"),
                         "--runs", str(tmp_path / "k")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rc.returncode == 0, rc.stderr
    assert rc.stdout.startswith(f"CPU plan: {len(cpu_plan())} full-profile runs, 1 stored, 0 training elsewhere")
    assert f"{ce.run_id:<40} checkpointed  epoch 40 of 200" in rc.stdout
