import json
import subprocess
import sys

import pytest

from conftest import ROOT


def cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "lt_lib", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def test_list_names_every_experiment():
    rc, out, _ = cli("list")
    assert rc == 0
    for name in ("ce", "reslt-a0.9", "reslt-a0.95", "reslt-a0.99", "reslt-a0.995", "reslt-a0.95-aa",
                 "reslt-a0.95-aa-ls", "reslt-paper"):
        assert any(line.split()[0] == name for line in out.splitlines() if line.strip())


def test_the_command_line_starts_without_torchvision():
    """torchvision's import (torch._dynamo with it) is paid only where AutoAugment is used, not by every
    process that imports lt_lib (a `list`, a `status`, each worker of a plan)."""
    code = "import sys, lt_lib.cli; print(sorted(m for m in ('torchvision', 'torch._dynamo') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "[]", (out.stdout, out.stderr)


def test_counts_json():
    rc, out, _ = cli("counts", "--imbalance", "100")
    assert rc == 0
    assert json.loads(out) == {"imbalance": 100, "counts": [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50],
                               "total": 12406, "splits": {"many": [0, 1, 2], "medium": [3, 4, 5],
                                                          "few": [6, 7, 8, 9]}}


@pytest.mark.parametrize("args,message", [
    (["train", "resnet", "--imbalance", "100"], "error: unknown experiment 'resnet'; choose one of: ce,"),
    (["counts", "--imbalance", "0"], "error: imbalance ratio must be a number >= 1"),
    (["counts", "--imbalance", "9000"], "error: imbalance ratio 9000 leaves the last class no image"),
    (["train", "ce", "--imbalance", "100", "--profile", "fast"], "error: unknown profile 'fast'"),
    (["train", "ce", "--imbalance", "100", "--profile", "quick", "--device", "tpu"], "error: unknown device"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    if args[0] == "train":  # never touch the project's results/ or runs/
        args = [*args, "--results", tmp_path / "r", "--runs", tmp_path / "k"]
    rc, out, err = cli(*args, cwd=tmp_path)
    assert rc == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_missing_data_is_one_line(tmp_path):
    rc, _, err = cli("train", "ce", "--imbalance", "100", "--profile", "quick", "--data-root", tmp_path / "none",
                     "--results", tmp_path / "r", "--runs", tmp_path / "k", "--quiet", cwd=tmp_path)
    assert rc == 2 and err.count("\n") == 1
    assert "cifar10.npz" in err and "--download" in err and "Traceback" not in err


def test_train_smoke_writes_a_summary_then_reuses_it(tmp_path):
    args = ["train", "reslt-a0.95-aa-ls", "--imbalance", "10", "--profile", "smoke", "--epochs", "2",
            "--results", tmp_path / "r", "--runs", tmp_path / "k"]
    rc, out, err = cli(*args, cwd=tmp_path)
    assert rc == 0, err
    run_id = "reslt-a0.95-aa-ls-ir10-s0-smoke-e2"
    path = tmp_path / "r" / run_id / "summary.json"
    assert f"wrote {path}" in out and "batch" in err  # the tqdm progress bar goes to stderr
    s = json.loads(path.read_text())
    assert s["run_id"] == run_id and s["epochs_completed"] == 2 and s["config"]["autoaugment"] is True
    assert set(s["provenance"]) >= {"git_commit", "git_dirty", "torch", "device", "started_at", "wall_seconds",
                                    "train_images_per_second"}
    assert (tmp_path / "r" / run_id / "history.csv").is_file()
    rc, out, _ = cli(*args, cwd=tmp_path)
    assert rc == 0 and "already in" in out


def test_train_an_early_exit_model_from_the_cli(tmp_path):
    rc, out, err = cli("train", "model7", "--imbalance", "100", "--profile", "smoke", "--epochs", "1",
                       "--results", tmp_path / "r", "--runs", tmp_path / "k", "--quiet", cwd=tmp_path)
    assert rc == 0, err
    s = json.loads((tmp_path / "r" / "model7-ir100-s0-smoke-e1" / "summary.json").read_text())
    exits = s["exits"]
    assert set(exits) >= {"train_threshold", "inference_threshold", "fraction", "accuracy", "flops_ratio", "sweep"}
    assert (exits["train_threshold"], exits["inference_threshold"]) == (0.9, 0.5)
    assert all(set(row) == {"threshold", "overall", "flops_ratio"} for row in exits["sweep"])
