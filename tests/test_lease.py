"""A time-boxed lease: the budget is kept (fake clock), every run it started is finished or checkpointed,
the bundle imports, and a run the lease stopped mid-epoch resumes to the uninterrupted result."""
import json
import tarfile

import pytest
from test_cli import cli

from lt_lib.errors import LtError
from lt_lib.learn.experiments import resolve
from lt_lib.runs.lease import BUNDLE_LIMIT, import_bundle, reserve_seconds, run_lease
from lt_lib.runs.parallel import train_packed
from lt_lib.runs.train import train


class FakeClock:
    """Seconds that pass only when read: each reading advances the clock by ``tick``."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture(scope="module")
def lease(tmp_path_factory):
    base = tmp_path_factory.mktemp("lease")
    clock = FakeClock(0.05)
    manifest = run_lease(12.0, profile="smoke", experiments=["ce", "reslt-paper"], device="cpu",
                         out=base / "bundle.tar", results_dir=base / "results", runs_dir=base / "runs", jobs=2,
                         clock=clock, quiet=True)
    return base, manifest, clock


def test_the_budget_is_kept_and_every_started_run_is_finished_or_checkpointed(lease):
    base, manifest, clock = lease
    assert clock.now <= 12.0 and manifest["seconds"] <= 12.0  # the promise, in the clock's own seconds
    assert reserve_seconds(12.0) == 5.0 and reserve_seconds(540) == 27.0 and reserve_seconds(3600) == 30.0
    started = set(manifest["run_seconds"])
    assert started == set(manifest["finished"]) | set(manifest["checkpointed"]) and started
    assert manifest["finished"] and manifest["checkpointed"]  # this budget ends with both kinds
    planned = {c.run_id for c in (resolve(e, r, "smoke") for e in ("ce", "reslt-paper") for r in (100, 50, 10))
               if c.run_id != "ce-ir50-s0-smoke"}  # ce at 50 is in no notebook
    assert started | set(manifest["not_started"]) == planned
    for run_id in manifest["finished"]:
        assert (base / "results" / run_id / "summary.json").is_file()


def test_the_bundle_holds_results_checkpoints_log_and_manifest(lease):
    base, manifest, _ = lease
    bundle = base / "bundle.tar"
    assert bundle.stat().st_size <= BUNDLE_LIMIT
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
        stored = json.loads(tar.extractfile("lease.json").read())
        log = tar.extractfile("lease.log").read().decode()
    assert {"lease.json", "lease.log"} <= names
    assert {f"results/{r}/summary.json" for r in manifest["finished"]} <= names
    assert {f"runs/{r}/checkpoint.pt" for r in manifest["checkpointed"]} <= names
    assert stored["engine"]["precision"] == "fp32" and stored["device"].startswith("cpu:")
    assert "lease of 12 s" in log and all(r in log for r in manifest["run_seconds"])


def test_import_merges_the_bundle_and_a_stopped_run_resumes_to_the_uninterrupted_result(lease, tmp_path):
    base, manifest, _ = lease
    done = import_bundle(base / "bundle.tar", tmp_path / "results", tmp_path / "runs", quiet=True)
    for run_id in manifest["finished"]:
        s = json.loads((tmp_path / "results" / run_id / "summary.json").read_text())
        assert s["provenance"]["imported_from"]["bundle"] == "bundle.tar" and done[run_id].startswith("imported")
    paused = manifest["checkpointed"][0]
    cfg = next(c for c in (resolve(e, r, "smoke") for e in ("ce", "reslt-paper") for r in (100, 50, 10))
               if c.run_id == paused)
    import torch

    stopped_at = torch.load(tmp_path / "runs" / paused / "checkpoint.pt", weights_only=True)["epoch"]
    resumed = train(cfg, results_dir=tmp_path / "results", runs_dir=tmp_path / "runs", resume=True, quiet=True)
    whole = train(cfg, results_dir=tmp_path / "whole", runs_dir=tmp_path / "whole-runs", quiet=True)
    assert resumed["final"] == whole["final"] and resumed["best"] == whole["best"]
    assert resumed["provenance"]["resumed_at_epochs"] == [stopped_at]
    again = import_bundle(base / "bundle.tar", tmp_path / "results", tmp_path / "runs", quiet=True)
    assert all("already stored" in again[r] for r in manifest["finished"])
    assert "finished here already" in again[paused]


def test_a_conflicting_stored_run_stops_the_import_with_one_line_and_nothing_written(lease, tmp_path):
    base, manifest, _ = lease
    run_id = manifest["finished"][0]
    target = tmp_path / "results" / run_id
    target.mkdir(parents=True)
    summary = json.loads((base / "results" / run_id / "summary.json").read_text())
    summary["config"]["lr"] = 0.05
    (target / "summary.json").write_text(json.dumps(summary))
    before = (target / "summary.json").read_text()
    rc, out, err = cli("import", base / "bundle.tar", "--results", tmp_path / "results", "--runs", tmp_path / "runs",
                       cwd=tmp_path)
    assert rc == 2 and err.count("\n") == 1 and "holds a run with another config" in err and run_id in err
    assert (target / "summary.json").read_text() == before and not (tmp_path / "runs").exists()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [run_id]


@pytest.mark.parametrize("damage", ["truncated", "not a tar"])
def test_a_damaged_bundle_is_one_line(lease, tmp_path, damage):
    base, _, _ = lease
    bad = tmp_path / "bad.tar"
    data = (base / "bundle.tar").read_bytes()
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"hello, not a bundle\n")
    rc, out, err = cli("import", bad, "--results", tmp_path / "r", "--runs", tmp_path / "k", cwd=tmp_path)
    assert rc == 2 and err.count("\n") == 1 and str(bad) in err and "copy it again" in err
    assert not (tmp_path / "r").exists()


def test_bad_lease_input_is_one_line(tmp_path):
    for args, message in ((["--budget", "0"], "--budget must be a positive number"),
                          (["--budget", "60", "--experiments", "nope"], "unknown experiment 'nope'")):
        rc, out, err = cli("lease", *args, "--device", "cpu", "--results", tmp_path / "r", "--runs", tmp_path / "k",
                           cwd=tmp_path)
        assert rc == 2 and err.count("\n") == 1 and message in err


def test_packed_runs_train_exactly_what_runs_alone_train(tmp_path):
    """Runs stepped in turn in one process (as on a GPU, one stream each) train what each trains alone."""
    configs = [resolve("ce", 100, "smoke", epochs=2), resolve("model7", 100, "smoke", epochs=2)]
    outcomes = train_packed(configs, 2, device="cpu", quiet=True, results_dir=tmp_path / "p", runs_dir=tmp_path / "pk")
    assert all(o["status"] in ("completed", "diverged") for o in outcomes) and len(outcomes) == 2
    for cfg in configs:
        alone = train(cfg, results_dir=tmp_path / "a", runs_dir=tmp_path / "ak", quiet=True)
        packed = json.loads((tmp_path / "p" / cfg.run_id / "summary.json").read_text())
        assert packed["final"] == alone["final"] and packed["best"] == alone["best"]


def test_a_failing_run_does_not_stop_the_packed_others(tmp_path):
    bad = resolve("ce", 100, "smoke", epochs=1)
    (tmp_path / "r" / bad.run_id).mkdir(parents=True)
    (tmp_path / "r" / bad.run_id / "summary.json").write_text("{not json")
    good = resolve("reslt-a0.9", 100, "smoke", epochs=1)
    outcomes = {o["run_id"]: o for o in train_packed([bad, good], 2, device="cpu", quiet=True,
                                                      results_dir=tmp_path / "r", runs_dir=tmp_path / "k")}
    assert outcomes[bad.run_id]["status"] == "failed" and "is damaged" in outcomes[bad.run_id]["detail"]
    assert outcomes[good.run_id]["status"] == "completed"
    with pytest.raises(LtError, match="is damaged"):
        train(bad, results_dir=tmp_path / "r", runs_dir=tmp_path / "k", quiet=True)


def test_a_lease_skips_the_ratios_its_data_does_not_hold(tmp_path):
    """With only the packed subsets on the machine, ratio 1 (ce-balanced) cannot be read: the lease
    says so up front and trains the rest."""
    import numpy as np

    from lt_lib.learn import data as D

    # a packed file of synthetic JPEGs: every image of ratios 100, 50 and 10 present, ratio 1's missing
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(10), 200)
    keep = np.zeros(len(labels), dtype=bool)
    for ratio in D.PACK_RATIOS:
        keep[D.long_tail_indices(labels, D.long_tail_counts(ratio, n_max=200))] = True
    from io import BytesIO

    from PIL import Image

    def jpegs(n):
        blobs = []
        for _ in range(n):
            buf = BytesIO()
            Image.fromarray(rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)).save(buf, "JPEG")
            blobs.append(buf.getvalue())
        return np.frombuffer(b"".join(blobs), dtype=np.uint8), np.cumsum([0] + [len(b) for b in blobs])

    train_jpeg, train_offsets = jpegs(int(keep.sum()))
    test_jpeg, test_offsets = jpegs(50)
    np.savez(folder / D.PACK_NAME, train_y=labels, train_index=np.flatnonzero(keep), train_jpeg=train_jpeg,
             train_offsets=train_offsets, test_jpeg=test_jpeg, test_offsets=test_offsets,
             test_y=np.repeat(np.arange(10), 5), ratios=np.array(D.PACK_RATIOS, dtype=float))
    manifest = run_lease(30.0, profile="quick", experiments=["ce-balanced"], device="cpu", data_root=folder,
                         out=tmp_path / "b.tar", results_dir=tmp_path / "r", runs_dir=tmp_path / "k",
                         clock=FakeClock(1.0), quiet=True)
    assert list(manifest["skipped"]) == ["ratio 1"] and "ratios 100, 50, 10 only" in manifest["skipped"]["ratio 1"]
    assert manifest["run_seconds"] == {} and manifest["not_started"] == []
