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


def test_a_window_keeps_the_runs_that_end_in_it_in_priority_order():
    """Two cores, ten hours: each run goes to the core that frees first, and stays when it ends in time."""
    from lt_lib.runs.plan import fit_window

    items = [("a", 6), ("b", 8), ("c", 5), ("d", 3), ("e", None), ("f", 1)]
    # a: core 1 until 6; b: core 2 until 8; c would end at 11; d: core 1 until 9; e has no estimate; f: core 2 until 9
    assert fit_window(items, 2, 10) == (["a", "b", "d", "f"], ["c", "e"])
    assert fit_window(items, 1, 10) == (["a", "d", "f"], ["b", "c", "e"])
    assert fit_window(items, 2, 0.5) == ([], ["a", "b", "c", "d", "e", "f"])


def test_plan_hours_trains_what_ends_in_the_window_first_counting_checkpointed_epochs(tmp_path, monkeypatch, capsys):
    import torch

    from lt_lib.runs import parallel, plan, timing

    hours = {"ldam-drw": 8, "ce": 3}  # every other run: 20 h
    monkeypatch.setattr(timing, "run_estimate", lambda cfg, *a, **k: (3600 * hours.get(cfg.experiment, 20), "test"))
    handed = []
    monkeypatch.setattr(parallel, "train_many", lambda configs, *a, **k: handed.extend(c.run_id for c in configs) or [])
    ldam = resolve("ldam-drw", 100, "full")
    (tmp_path / "k" / ldam.run_id).mkdir(parents=True)
    torch.save({"epoch": 150}, tmp_path / "k" / ldam.run_id / "checkpoint.pt")  # 50 of 200 epochs left: 2 h
    plan.run_cpu_plan(jobs=1, results_dir=tmp_path / "r", runs_dir=tmp_path / "k", hours=5.5)
    # one core, 5.5 h: ldam-drw's last 2 h, then ce's 3 h; everything else (20 h each) after them, in priority order
    assert handed[:2] == [ldam.run_id, resolve("ce", 100, "full").run_id]
    assert handed[2:] == [resolve(n, r, "full").run_id for n, r in cpu_plan() if n not in ("ldam-drw", "ce")
                          or r != 100]
    out = capsys.readouterr().out
    assert f"2 run(s) end by the estimates: {ldam.run_id}, ce-ir100-s0-full;" in out


def test_plan_hours_must_be_positive(tmp_path):
    rc = subprocess.run([sys.executable, "-m", "lt_lib", "plan", "--list", "--hours", "0", "--results",
                         str(tmp_path / "r"), "--runs", str(tmp_path / "k")], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)
    assert rc.returncode == 2 and rc.stdout == ""
    assert rc.stderr.strip().splitlines() == ["error: --hours must be a positive number of hours (the time this "
                                              "machine is left for), got 0.0"]
