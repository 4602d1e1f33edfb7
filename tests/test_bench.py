"""The benchmark's record and the runs-at-once machinery."""
import json

import pytest
from test_cli import cli

from lt_lib.learn import data as D
from lt_lib.learn.experiments import EXPERIMENTS, resolve

KEYS = {"reference_images_per_s", "engine_images_per_s", "bound_images_per_s", "ratio_vs_reference",
        "ratio_vs_bound", "device", "torch", "projected_full_run_s", "projected_report_s", "eval_images_per_s",
        "inference", "engine", "rounds_images_per_s", "git_commit", "augment_ms_per_batch"}


def test_bench_writes_its_ratios_and_projections(tmp_path):
    """No CIFAR-10 under --data-root: the bench says so and times synthetic images of the same sizes."""
    out = tmp_path / "bench.json"
    rc, stdout, err = cli("bench", "--device", "cpu", "--steps", "2", "--warmup", "1", "--rounds", "1",
                          "--workers", "0", "--data-root", tmp_path / "none", "--runs", tmp_path / "runs",
                          "--json", out, cwd=tmp_path)
    assert rc == 0, err
    r = json.loads(out.read_text())
    assert KEYS <= set(r) and r["data"] == "synthetic" and r["device"].startswith("cpu:")
    ref, eng, bound, ev = (r[k] for k in ("reference_images_per_s", "engine_images_per_s", "bound_images_per_s",
                                          "eval_images_per_s"))
    # derived from the recorded speeds, up to its own rounding (3 decimals; 0.1 s), however slow this machine
    assert r["ratio_vs_reference"] == pytest.approx(eng / ref, abs=5e-4 + 1e-9)
    assert r["ratio_vs_bound"] == pytest.approx(eng / bound, abs=5e-4 + 1e-9)
    assert r["rounds_images_per_s"]["engine"] == [eng]
    # 200 epochs of the 12,406 images at ratio 100 plus 200 evaluations of the 10,000 test images
    assert r["projected_full_run_s"] == pytest.approx(200 * 12406 / eng + 200 * 10000 / ev, abs=0.05 + 1e-6)
    assert r["projected_report_runs"] == sum(len(e.ratios) for e in EXPERIMENTS.values())
    assert r["projected_report_s"] > 10 * r["projected_full_run_s"]
    inf = r["inference"]
    assert inf["weights"].startswith("untrained") and sum(inf["exit_fraction"]) == pytest.approx(1.0)
    speedup = inf["early_exit_images_per_s"] / inf["no_exit_images_per_s"]
    assert inf["speedup"] == pytest.approx(speedup, abs=5e-4 + 1e-9)
    assert f"engine / reference = {r['ratio_vs_reference']:.2f}x" in stdout and f"wrote {out}" in stdout


@pytest.mark.parametrize("args, message", [
    (["bench", "--eval-batch", "0"], "error: evaluation batch must be at least 1, got 0"),
    (["bench", "--steps", "0"], "error: --steps, --warmup and --rounds must be at least 1, got 0, 3 and 3"),
    (["train-many", "ce", "resnet", "--imbalance", "100"], "error: unknown experiment 'resnet'"),
    (["train-many", "ce", "--imbalance", "100", "--jobs", "0"], "error: --jobs must be at least 1, got 0"),
])
def test_bad_bench_and_train_many_input_is_one_line(args, message, tmp_path):
    rc, out, err = cli(*args, "--device", "cpu", cwd=tmp_path)
    assert rc == 2 and out == "" and err.startswith(message) and err.count("\n") == 1


def test_train_many_runs_in_parallel_processes_and_skips_stored_runs(tmp_path):
    args = ["train-many", "ce", "reslt-a0.95", "--imbalance", "100", "--profile", "smoke", "--epochs", "1",
            "--jobs", "2", "--device", "cpu", "--results", tmp_path / "r", "--runs", tmp_path / "k"]
    rc, out, err = cli(*args, cwd=tmp_path)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 run(s), 2 at a time, 1 thread(s) each"
    assert sorted(line.split()[1] for line in lines[1:]) == ["ce-ir100-s0-smoke-e1:", "reslt-a0.95-ir100-s0-smoke-e1:"]
    for run_id in ("ce-ir100-s0-smoke-e1", "reslt-a0.95-ir100-s0-smoke-e1"):
        s = json.loads((tmp_path / "r" / run_id / "summary.json").read_text())
        assert s["status"] == "completed" and s["provenance"]["device"].endswith("x1 threads")
    before = (tmp_path / "r" / "ce-ir100-s0-smoke-e1" / "summary.json").read_text()
    rc, out, _ = cli(*args, cwd=tmp_path)  # stored: loaded, not retrained
    assert rc == 0 and (tmp_path / "r" / "ce-ir100-s0-smoke-e1" / "summary.json").read_text() == before


def test_a_timed_window_counts_its_images():
    from lt_lib.runs.bench import timed_engine_window

    cfg = resolve("ce", 100, "smoke")
    start, end, images = timed_engine_window(cfg, "cpu", None, {}, 3, 1)
    assert images == 3 * cfg.batch_size and end > start
    assert sum(D.long_tail_counts(100, n_max=cfg.synthetic_sizes[0])) >= 4 * cfg.batch_size  # 4 batches exist


def test_the_default_cpu_training_path_is_close_to_float64():
    """What the engine's CPU default (fp32, contiguous) is chosen for: one backward pass of the
    report's ResLT model at initialisation (ill-conditioned: 31 BatchNorms in training mode) within 1% of
    float64 (measured here: 1.0e-3; channels_last on this CPU: 2e-2)."""
    import torch

    from lt_lib.runs.bench import gradient_error_vs_float64
    from lt_lib.runs.train import load_data

    cfg = resolve("reslt-a0.95-aa-ls", 100, "smoke")
    err = gradient_error_vs_float64(cfg, load_data(cfg), torch.contiguous_format, images=16)
    assert 0 < err < 1e-2


def test_a_fault_in_one_run_is_its_outcome_and_the_others_go_on(monkeypatch, capsys):
    """A bug that raises in one run (not a one-line LtError) becomes that run's 'failed' outcome with its
    traceback on stderr, so a plan's other runs still report as they finish."""
    import lt_lib.runs.parallel as P
    import lt_lib.runs.train as T
    from lt_lib.errors import LtError
    from lt_lib.learn.experiments import resolve

    cfg = resolve("ce", 100, "smoke", epochs=1)

    def broken(cfg, **kwargs):
        return {}["predictions"]

    monkeypatch.setattr(T, "train", broken)
    out = P._train_one(cfg, {})
    assert out["run_id"] == cfg.run_id and out["status"] == "failed"
    assert out["detail"] == "KeyError: 'predictions' (traceback above)"
    assert "Traceback" in capsys.readouterr().err

    def refused(cfg, **kwargs):
        raise LtError("the results folder is read-only; choose another with --results")

    monkeypatch.setattr(T, "train", refused)
    assert P._train_one(cfg, {})["detail"] == "the results folder is read-only; choose another with --results"


def test_the_epoch_line_paces_by_the_median_epoch_so_a_pause_does_not_inflate_it(monkeypatch, capsys):
    from lt_lib.runs import parallel

    clock = iter([1000.0, 1100.0, 1200.0, 8400.0, 8500.0])  # epochs of 100 s; the third spans a 2-hour pause
    monkeypatch.setattr(parallel.time, "perf_counter", lambda: next(clock))
    line = parallel.EpochLine(resolve("ce", imbalance=100, profile="full"))
    for epoch in (11, 12, 13, 14):
        line(epoch, {"train_loss": 0.5, "test_overall": 40.0})
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("epoch 14/200, loss 0.500, test 40.00%; 100 s/epoch, 5.2 h left")  # 186 x 100 s = 5.17 h
    assert "7200 s/epoch" not in out[2] and "100 s/epoch" in out[2]
