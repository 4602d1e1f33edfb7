import pytest
import torch

import lt_lib.runs.train as T
from conftest import Killed, kill_at
from lt_lib.errors import LtError
from lt_lib.learn.experiments import resolve


def test_learning_rate_schedule_full_and_quick():
    full = resolve("reslt-a0.95", 100, "full")
    assert [T.learning_rate(full, e) for e in range(6)] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1, 0.1])
    assert T.learning_rate(full, 159) == pytest.approx(0.1)
    assert T.learning_rate(full, 160) == pytest.approx(0.01)  # the report's log: "Epoch 161 ... LR 0.01"
    assert T.learning_rate(full, 199) == pytest.approx(0.001)  # "Epoch 200 ... LR: 0.00100"
    quick = resolve("reslt-a0.95", 100, "quick")
    assert (quick.epochs, quick.warmup_epochs, quick.milestones) == (30, 2, (24, 27))
    assert [T.learning_rate(quick, e) for e in (0, 1, 23, 24, 27)] == pytest.approx([0.05, 0.1, 0.1, 0.01, 0.001])


def test_smoke_run_beats_chance(smoke_ce):
    cfg, summary, base = smoke_ce
    assert summary["status"] == "completed" and summary["epochs_completed"] == cfg.epochs
    assert summary["final"]["overall"] > 30  # chance is 10%
    final = summary["final"]
    assert final["overall"] == pytest.approx(sum(final["per_class"]) / 10)  # balanced test set
    assert final["many"] == pytest.approx(sum(final["per_class"][:3]) / 3)
    assert final["few"] == pytest.approx(sum(final["per_class"][6:]) / 4)
    assert summary["best"]["overall"] >= final["overall"]
    assert summary["data"]["counts"] == [128, 99, 76, 59, 46, 35, 27, 21, 16, 12]
    assert (base / "runs" / cfg.run_id / "final.pt").is_file()
    assert not (base / "runs" / cfg.run_id / "checkpoint.pt").exists()


def test_a_stored_run_is_loaded_not_retrained_and_never_overwritten(smoke_ce, monkeypatch):
    cfg, summary, base = smoke_ce
    monkeypatch.setattr(T, "build_model", lambda cfg: pytest.fail("retrained a stored run"))
    again = T.train(cfg, results_dir=base / "results", runs_dir=base / "runs", quiet=True)
    assert again == summary
    other = resolve("ce", 10, "smoke", lr=0.05)
    assert other.run_id == cfg.run_id and other.config_hash != cfg.config_hash
    with pytest.raises(LtError, match="different config.*--force"):
        T.train(other, results_dir=base / "results", runs_dir=base / "runs", quiet=True)


def test_divergence_on_a_non_finite_loss_keeps_the_history(tmp_path, monkeypatch):
    real = T.build_loss
    steps = {"n": 0}

    def nan_after_two_epochs(cfg, counts):
        loss = real(cfg, counts)

        def wrapped(outputs, y, *args):
            steps["n"] += 1
            value, exit_idx = loss(outputs, y, *args)
            return (value * float("nan") if steps["n"] > 2 * 17 else value), exit_idx  # 17 batches per epoch

        wrapped.to = lambda device: wrapped

        return wrapped

    monkeypatch.setattr(T, "build_loss", nan_after_two_epochs)
    cfg = resolve("ce", 10, "smoke")
    s = T.train(cfg, results_dir=tmp_path / "r", runs_dir=tmp_path / "k", quiet=True)
    assert s["status"] == "diverged"
    assert s["divergence"] == {"epoch": 3, "reason": "non-finite training loss"}
    assert s["epochs_completed"] == 3
    hist = T.ResultsStore(tmp_path / "r").history(cfg.run_id)
    assert hist["epoch"].tolist() == [1, 2, 3] and hist["train_loss"].iloc[:2].notna().all()


def test_a_collapse_found_by_an_evaluation_stores_the_whole_run(tmp_path, monkeypatch):
    """A collapse is known only after the evaluation that shows it: the run still ends with its test outputs,
    its final weights and no checkpoint left behind (a full model14 run once stopped with none)."""
    def collapse_at_two(self, epoch, counts):
        return {"epoch": epoch, "reason": "collapse (stand-in)"} if epoch == 2 else None

    monkeypatch.setattr(T.DivergenceMonitor, "after_eval", collapse_at_two)
    cfg = resolve("ce", 10, "smoke", epochs=4)
    s = T.train(cfg, results_dir=tmp_path / "r", runs_dir=tmp_path / "k", quiet=True)
    assert (s["status"], s["epochs_completed"], s["divergence"]["epoch"]) == ("diverged", 2, 2)
    p = T.ResultsStore(tmp_path / "r").predictions(cfg.run_id)
    assert p is not None and p["logits"].shape == (1, len(p["labels"]), 10)
    right = (p["predictions"][0] == p["labels"]).mean() * 100
    assert right == pytest.approx(s["final"]["overall"], abs=0.005)  # the outputs of the weights it ended with
    assert (tmp_path / "k" / cfg.run_id / "final.pt").is_file()
    assert not (tmp_path / "k" / cfg.run_id / "checkpoint.pt").exists()


def test_collapse_monitor():
    m = T.DivergenceMonitor(patience=3)
    one = [0, 0, 0, 0, 0, 0, 0, 0, 0, 100]
    assert m.after_eval(1, one) is None and m.after_eval(2, one) is None  # untrained start: not a collapse
    assert m.after_eval(3, one) is None and m.after_eval(4, one) is None and m.after_eval(5, one) is None
    assert m.after_eval(6, [10] * 10) is None  # learned
    assert m.after_eval(7, one) is None and m.after_eval(8, one) is None
    assert m.after_eval(9, [10] * 10) is None  # recovered: the streak restarts
    assert m.after_eval(10, one) is None
    assert m.after_eval(11, [100] + [0] * 9) is None  # another class: a new streak
    assert m.after_eval(12, [100] + [0] * 9) is None
    got = m.after_eval(13, [100] + [0] * 9)
    assert got["epoch"] == 11 and "class 0" in got["reason"]
    assert T.DivergenceMonitor().after_epoch(4, False) == {"epoch": 4, "reason": "non-finite training loss"}


def test_resume_gives_the_same_run_as_an_uninterrupted_one(tmp_path):
    cfg = resolve("reslt-a0.95-aa-ls", 10, "smoke", epochs=4)
    assert cfg.run_id.endswith("-smoke-e4") and cfg.checkpoint_every == 2
    whole = T.train(cfg, results_dir=tmp_path / "a", runs_dir=tmp_path / "ka", quiet=True)

    with pytest.raises(Killed):
        T.train(cfg, results_dir=tmp_path / "b", runs_dir=tmp_path / "kb", quiet=True, on_epoch_end=kill_at(3))
    ckpt = tmp_path / "kb" / cfg.run_id / "checkpoint.pt"
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    with pytest.raises(LtError, match="--resume"):
        T.train(cfg, results_dir=tmp_path / "b", runs_dir=tmp_path / "kb", quiet=True)
    resumed = T.train(cfg, results_dir=tmp_path / "b", runs_dir=tmp_path / "kb", quiet=True, resume=True)
    assert resumed["final"] == whole["final"] and resumed["best"] == whole["best"]
    assert resumed["provenance"]["resumed_at_epochs"] == [2] and whole["provenance"]["resumed_at_epochs"] == []
    ha = T.ResultsStore(tmp_path / "a").history(cfg.run_id)
    hb = T.ResultsStore(tmp_path / "b").history(cfg.run_id)
    assert ha.equals(hb)

    # a run that has trained for checkpoint_seconds since its last checkpoint saves one at the epoch's end,
    # between the every-2-epochs ones: stopped during epoch 2, it resumes from epoch 1, to the same run
    def run(**kw):
        return T.drive(T.Run(cfg, results_dir=tmp_path / "c", runs_dir=tmp_path / "kc", quiet=True,
                             checkpoint_seconds=0, **kw).steps())

    with pytest.raises(Killed):
        run(on_epoch_end=kill_at(2))
    assert torch.load(tmp_path / "kc" / cfg.run_id / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = run(resume=True)
    assert resumed["final"] == whole["final"] and resumed["provenance"]["resumed_at_epochs"] == [1]
    assert T.ResultsStore(tmp_path / "c").history(cfg.run_id).equals(ha)


def test_bad_device_is_one_clear_line():
    with pytest.raises(LtError, match="unknown device"):
        T.resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(LtError, match="no CUDA GPU; use --device cpu"):
            T.resolve_device("cuda")
