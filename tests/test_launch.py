"""Runs handed to submitit: its local executor here (each run a job on this machine), SLURM's script
shown by a dry run, and ``status``."""
import json
import os
import signal
import time

import pytest
from test_cli import cli

from lt_lib.learn.experiments import resolve
from lt_lib.runs.launch import SlurmOptions, job_status, launch, sbatch_script
from lt_lib.runs.results import ResultsStore
from lt_lib.runs.train import train


def test_local_jobs_store_exactly_what_inline_training_stores(tmp_path):
    """The same runs, trained in jobs and here with the same threads (CPU kernels sum in another order
    with another thread count): the same numbers, and the provenance names the launcher."""
    import torch

    configs = [resolve("ce", 100, "smoke", epochs=2), resolve("reslt-a0.9", 100, "smoke", epochs=2)]
    lines = []
    outcomes = launch(configs, "local", jobs=2, threads=torch.get_num_threads(), folder=tmp_path / "jobs", say=lines.append, device="cpu",
                      results_dir=tmp_path / "r", runs_dir=tmp_path / "k")
    assert sorted(o["run_id"] for o in outcomes) == sorted(c.run_id for c in configs)
    assert sum(line.startswith("submitted ") for line in lines) == 2 and lines[-1].startswith("[2/2] ")
    for cfg in configs:
        alone = train(cfg, results_dir=tmp_path / "a", runs_dir=tmp_path / "ak", quiet=True)
        jobbed = ResultsStore(tmp_path / "r").read(cfg.run_id)
        assert jobbed["final"] == alone["final"] and jobbed["best"] == alone["best"]
        assert ResultsStore(tmp_path / "r").history(cfg.run_id).drop(columns=[]).equals(
            ResultsStore(tmp_path / "a").history(cfg.run_id))
        assert jobbed["provenance"]["launcher"]["launcher"] == "local" and jobbed["provenance"]["launcher"]["job_id"]
        assert "launcher" not in alone["provenance"]
    rows = {r["run_id"]: r for r in job_status(tmp_path / "jobs")}
    assert {r["state"] for r in rows.values()} == {"finished"}


def test_a_killed_job_resumes_from_its_checkpoint_when_submitted_again(tmp_path):
    cfg = resolve("ce", 100, "smoke", epochs=12)  # checkpoints every 2 epochs
    launch([cfg], "local", jobs=1, threads=1, folder=tmp_path / "jobs", wait=False, say=lambda *a: None,
                       device="cpu", results_dir=tmp_path / "r", runs_dir=tmp_path / "k")
    ckpt = tmp_path / "k" / cfg.run_id / "checkpoint.pt"
    for _ in range(3000):
        if ckpt.is_file():
            break
        time.sleep(0.2)
    assert ckpt.is_file(), "no checkpoint: the job did not start"
    training = int((tmp_path / "k" / cfg.run_id / ".lock").read_text().split()[1])  # "pid N on host since ..."
    os.kill(training, signal.SIGKILL)  # the job's training process dies mid-run, as on a preempted node
    time.sleep(2)
    assert ResultsStore(tmp_path / "r").read(cfg.run_id) is None
    outcomes = launch([cfg], "local", jobs=1, threads=1, folder=tmp_path / "jobs", say=lambda *a: None,
                      device="cpu", results_dir=tmp_path / "r", runs_dir=tmp_path / "k")
    assert [o["status"] for o in outcomes] in (["completed"], ["diverged"]), outcomes
    s = ResultsStore(tmp_path / "r").read(cfg.run_id)
    assert s["provenance"]["resumed_at_epochs"] and s["epochs_completed"] == 12
    assert len(json.loads((tmp_path / "jobs" / "jobs.json").read_text())) == 2


def test_the_slurm_dry_run_shows_the_requested_resources(tmp_path):
    script = sbatch_script(tmp_path, SlurmOptions(partition="gpu", account="lab", time_min=90, gpus=2, cpus=16,
                                                  mem="48G", setup=["module load cuda/12"]), jobs=5)
    for line in ("#SBATCH --partition=gpu", "#SBATCH --account=lab", "#SBATCH --time=90", "#SBATCH --gpus-per-node=2",
                 "#SBATCH --cpus-per-task=16", "#SBATCH --mem=48G", "#SBATCH --array=0-4%5", "module load cuda/12",
                 "-m submitit.core._submit"):
        assert line in script, line
    rc, out, err = cli("train-many", "ce", "reslt-paper", "--imbalance", "100", "50", "--launcher", "slurm",
                       "--dry-run", "--slurm-runs-per-job", "3", "--jobs-folder", tmp_path / "j", cwd=tmp_path)
    assert rc == 0, err
    assert out.startswith("2 job(s) for 4 run(s), 3 run(s) per job; the first job's script:") and "#SBATCH" in out
    assert not (tmp_path / "j").exists()  # nothing submitted, nothing written


def test_status_says_what_is_queued_and_what_failed(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "jobs.json").write_text(json.dumps([
        {"job_id": "11", "launcher": "slurm", "run_ids": ["ce-ir100-s0-full"], "results_dir": str(tmp_path / "r"),
         "runs_dir": str(tmp_path / "k")},
        {"job_id": "12", "launcher": "slurm", "run_ids": ["ldam-drw-ir100-s0-full"], "results_dir": str(tmp_path / "r"),
         "runs_dir": str(tmp_path / "k")}]))
    import pickle

    with open(tmp_path / "jobs" / "12_0_result.pkl", "wb") as f:
        pickle.dump(("error", "Traceback ...\nRuntimeError: CUDA out of memory"), f)
    rc, out, err = cli("status", "--jobs", tmp_path / "jobs")
    assert rc == 0, err
    assert "2 run(s): 1 queued, 0 running, 0 finished, 1 failed" in out
    assert "ldam-drw-ir100-s0-full                   failed    slurm job 12  RuntimeError: CUDA out of memory" in out
    rc, out, err = cli("status", "--jobs", tmp_path / "nothing")
    assert rc == 2 and "nothing was submitted there" in err


@pytest.mark.parametrize("args, message", [
    (["train-many", "ce", "--imbalance", "100", "--dry-run"], "--dry-run shows the sbatch script of --launcher slurm"),
    (["train-many", "ce", "--imbalance", "100", "--launcher", "slurm", "--dry-run", "--slurm-runs-per-job", "0"],
     "--slurm-runs-per-job must be at least 1"),
])
def test_bad_launcher_input_is_one_line(args, message, tmp_path):
    rc, out, err = cli(*args, cwd=tmp_path)
    assert rc == 2 and err.count("\n") == 1 and message in err, err
