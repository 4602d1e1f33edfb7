"""Fault injection: every damaged or unreadable input, unwritable folder, second writer and interrupted
report ends in one line (exit 2, or 130 for an interrupt) that names the file and the fix, and no stored
file changes."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch
from test_cli import cli

from conftest import ROOT
from lt_lib.errors import LtError
from lt_lib.learn.experiments import resolve
from lt_lib.runs.results import ResultsStore
from lt_lib.runs.train import load_weights

SMOKE = ["--profile", "smoke", "--epochs", "1", "--quiet"]


def fingerprint(*folders):
    """Every file under the folders with a hash of its bytes: 'nothing changed' is equality. A run's
    ``.lock`` file is left out: it stays beside the run by design (flock needs one inode per run)."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.exists() else ():
            if p.is_file() and p.name != ".lock":
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def one_line(rc, out, err, code=2):
    assert rc == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def npz(tmp_path):
    """A small valid cifar10.npz (synthetic pixels, CIFAR's shapes)."""
    rng = np.random.RandomState(0)
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "cifar10.npz", train_x=rng.randint(0, 256, (200, 32, 32, 3)).astype(np.uint8),
             train_y=np.repeat(np.arange(10), 20), test_x=rng.randint(0, 256, (50, 32, 32, 3)).astype(np.uint8),
             test_y=np.repeat(np.arange(10), 5))
    return folder / "cifar10.npz"


@pytest.mark.parametrize("damage, what", [("truncated", "is damaged (truncated: its zip directory is missing)"),
                                          ("flipped bytes", "is damaged ("),
                                          ("a text file", "is damaged (not an npz (zip) file)")])
def test_a_damaged_npz_is_one_line_naming_it_and_the_fix(npz, tmp_path, damage, what):
    data = npz.read_bytes()
    if damage == "truncated":
        npz.write_bytes(data[: len(data) // 2])
    elif damage == "flipped bytes":
        with zipfile.ZipFile(npz) as z:
            start = z.getinfo("train_x.npy").header_offset + 200
        npz.write_bytes(data[:start] + bytes(b ^ 0xFF for b in data[start:start + 64]) + data[start + 64:])
    else:
        npz.write_text("this is not an npz\n")
    err = one_line(*cli("train", "ce", "--imbalance", "10", "--profile", "quick", "--epochs", "1", "--data-root",
                        npz.parent, "--results", tmp_path / "r", "--runs", tmp_path / "k", "--quiet", cwd=tmp_path))
    assert str(npz) in err and what in err and "python -m lt_lib data --force" in err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("summary.json"))


def test_damaged_cifar_batches_are_one_line(tmp_path):
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(b"\x80\x04garbage")
    err = one_line(*cli("train", "ce", "--imbalance", "10", "--profile", "quick", "--epochs", "1", "--data-root",
                        tmp_path / "data", "--results", tmp_path / "r", "--runs", tmp_path / "k", cwd=tmp_path))
    assert "data_batch_1 is damaged" in err and "--download" in err


def test_a_damaged_summary_is_one_line_and_never_overwritten(tmp_path):
    cfg = resolve("ce", 10, "smoke", epochs=1)
    path = tmp_path / "r" / cfg.run_id / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"run_id": "ce-ir10-s0-smoke-e1", "experiment": ')
    before = fingerprint(tmp_path / "r")
    err = one_line(*cli("train", "ce", "--imbalance", "10", *SMOKE, "--results", tmp_path / "r", "--runs",
                        tmp_path / "k", cwd=tmp_path))
    assert f"{path} is damaged (JSONDecodeError" in err and "git checkout" in err and "delete" in err
    assert fingerprint(tmp_path / "r") == before
    problems = []
    assert ResultsStore(tmp_path / "r").summaries(problems) == [] and str(path) in problems[0]


def test_a_damaged_history_and_weights_are_one_line(tmp_path, smoke_ce):
    cfg, _, base = smoke_ce
    store = ResultsStore(tmp_path / "r")
    (tmp_path / "r" / cfg.run_id).mkdir(parents=True)
    (tmp_path / "r" / cfg.run_id / "history.csv").write_bytes(b"\xff\xfe\x00garbage\n1,2\n")
    with pytest.raises(LtError, match=r"history.csv is damaged .*; restore it"):
        store.history(cfg.run_id)
    weights = tmp_path / "final.pt"
    weights.write_bytes((base / "runs" / cfg.run_id / "final.pt").read_bytes()[:500])
    with pytest.raises(LtError, match=r"final.pt is damaged .*; delete it; train the run again"):
        load_weights(weights)


def test_a_damaged_checkpoint_is_one_line_on_resume(tmp_path):
    cfg = resolve("ce", 10, "smoke", epochs=4)
    ckpt = tmp_path / "k" / cfg.run_id / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"PK\x03\x04 not really a checkpoint")
    before = fingerprint(tmp_path / "k")
    err = one_line(*cli("train", "ce", "--imbalance", "10", "--profile", "smoke", "--epochs", "4", "--resume",
                        "--results", tmp_path / "r", "--runs", tmp_path / "k", cwd=tmp_path))
    assert f"{ckpt} is damaged" in err and "start the run over" in err
    assert fingerprint(tmp_path / "k") == {k: v for k, v in before.items()}


@pytest.mark.parametrize("which", ["--results", "--runs"])
def test_an_unwritable_folder_fails_in_the_first_second(tmp_path, which):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be\n")
    folders = {"--results": tmp_path / "r", "--runs": tmp_path / "k", which: blocker / "sub"}
    t0 = time.perf_counter()
    err = one_line(*cli("train", "ce", "--imbalance", "10", *SMOKE, *[x for kv in folders.items() for x in kv],
                        cwd=tmp_path))
    assert time.perf_counter() - t0 < 30  # the interpreter's start-up; no epoch was trained
    assert "cannot write" in err and str(blocker / "sub") in err and which in err
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("*.pt"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file-as-folder case covers it")
def test_a_read_only_results_folder_fails_before_training(tmp_path):
    (tmp_path / "r").mkdir()
    os.chmod(tmp_path / "r", 0o500)
    err = one_line(*cli("train", "ce", "--imbalance", "10", *SMOKE, "--results", tmp_path / "r", "--runs",
                        tmp_path / "k", cwd=tmp_path))
    assert "cannot write results" in err


def test_a_second_writer_stops_at_once_naming_the_holder(tmp_path):
    """What is tested is the lock, not training: the second writer is refused while the first still
    trains (whatever the machine's load: no wall-clock limit), and the first run's outcome (completed,
    or diverged on a CPU whose kernels sum in another order) is stored once, as whatever it is."""
    args = [sys.executable, "-m", "lt_lib", "train", "ce", "--imbalance", "100", "--profile", "smoke",
            "--epochs", "20", "--results", str(tmp_path / "r"), "--runs", str(tmp_path / "k"), "--quiet"]
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "k" / "ce-ir100-s0-smoke-e20" / ".lock"
    while not (lock.is_file() and lock.read_text().startswith("pid")):
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.1)
    rc, out, err = cli(*args[3:], cwd=tmp_path)
    still_training = first.poll() is None
    one_line(rc, out, err)
    assert still_training, "the first run ended before the second was refused: make it longer"
    assert f"pid {first.pid}" in err and "is being trained by" in err and str(lock) in err
    assert first.wait(timeout=1800) == 0, first.stderr.read()
    s = json.loads((tmp_path / "r" / "ce-ir100-s0-smoke-e20" / "summary.json").read_text())
    assert s["status"] in ("completed", "diverged") and s["provenance"]["resumed_at_epochs"] == []
    assert not list((tmp_path / "k").rglob("*.tmp"))  # unique temporary names, none left behind


def test_an_interrupted_report_says_how_to_continue_and_a_rerun_does(tmp_path):
    """SIGINT during --train: exit 130 with the truth (run the same command again); the rerun finishes
    what was interrupted from its checkpoint and stored runs stay as they were. The run's outcome
    (completed, or diverged on a CPU whose kernels sum in another order) is not what is tested."""
    args = [sys.executable, "-m", "lt_lib", "report", "--train", "--profile", "smoke", "--notebooks", "02",
            "--device", "cpu", "--results", str(tmp_path / "r"), "--runs", str(tmp_path / "runs"), "--figures",
            str(tmp_path / "f"), "--out", str(tmp_path / "out"), "--no-html", "--no-site"]
    # as a terminal's Ctrl-C: SIGINT at its default (a shell's background job would inherit it ignored)
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ckpt = tmp_path / "runs" / "reslt-a0.95-ir100-s0-smoke" / "checkpoint.pt"
    for _ in range(1200):
        if ckpt.is_file():
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted; run the same command again to continue")
    assert torch.load(ckpt, weights_only=True)["epoch"] >= 2
    rc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert rc.returncode == 0, rc.stderr
    s = json.loads((tmp_path / "r" / "reslt-a0.95-ir100-s0-smoke" / "summary.json").read_text())
    assert s["status"] in ("completed", "diverged") and s["provenance"]["resumed_at_epochs"]
    assert not ckpt.exists()


def test_a_damaged_stored_run_stops_the_report_before_it_renders(tmp_path):
    """One line naming the file and the fix, exit 2, nothing rendered, no file of the store or the figures
    changed; --skip-damaged renders with the run shown as damaged, each warning printed once."""
    good = resolve("reslt-a0.95", 100, "smoke")
    bad = tmp_path / "r" / good.run_id / "summary.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("[1, 2")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "kept.png").write_bytes(b"a figure")
    before = fingerprint(tmp_path / "r", tmp_path / "f")
    args = ["report", "--profile", "smoke", "--notebooks", "02", "--device", "cpu", "--results", tmp_path / "r",
            "--figures", tmp_path / "f", "--out", tmp_path / "out", "--no-html"]
    err = one_line(*cli(*args))
    assert f"{bad} is damaged" in err and "git checkout" in err and "--skip-damaged" in err
    assert fingerprint(tmp_path / "r", tmp_path / "f") == before and not (tmp_path / "out").exists()
    rc, out, err = cli(*args, "--skip-damaged")
    assert rc == 0, err
    assert err.count(f"{bad} is damaged") == 1
    assert "02_reslt_baseline" in out and " ok " in out
    assert bad.read_text() == "[1, 2"
    import nbformat

    executed = nbformat.read(tmp_path / "out" / "02_reslt_baseline.ipynb", as_version=4)
    text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/html", ""))
                   for c in executed.cells for o in c.get("outputs", []))
    assert "damaged" in text


def test_an_unwritable_output_folder_stops_the_report_at_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be\n")
    for flag in ("--results", "--figures", "--out", "--site"):
        folders = {"--results": tmp_path / "r", "--figures": tmp_path / "f", "--out": tmp_path / "o",
                   flag: blocker / "sub"}
        err = one_line(*cli("report", "--train", "--profile", "smoke", "--device", "cpu",
                            *[x for kv in folders.items() for x in kv]))
        assert "cannot write" in err and flag in err, err
    assert not list(tmp_path.rglob("summary.json"))


def test_a_damaged_data_file_stops_the_report_before_it_renders(npz, tmp_path):
    npz.write_bytes(npz.read_bytes()[:1000])
    err = one_line(*cli("report", "--notebooks", "00", "--data-root", npz.parent, "--results", tmp_path / "r",
                        "--figures", tmp_path / "f", "--out", tmp_path / "o"))
    assert f"{npz} is damaged" in err and not (tmp_path / "o").exists()
