"""A time-boxed GPU session: ``python -m lt_lib lease --budget SECONDS`` and ``python -m lt_lib import BUNDLE``.

GPU time often comes in short sessions (a rented card, a notebook service, a shared queue). A lease
trains the runs the report still misses, in the report's plan order (headline runs first), packed on
the card (``parallel.train_packed``), and before the budget ends stops every unfinished run between
two steps; each checkpoints the state its epoch started from. Then it writes ONE bundle (a tar file of
at most 16 MiB): the finished runs' results folders, the unfinished runs' checkpoints, a log, and a
manifest with the engine and the timings. ``import`` merges a bundle into results/ and runs/ on any
machine; an imported checkpoint resumes with ``train --resume`` or in the next lease.

The budget is a promise: the lease stops training at ``start + budget - reserve`` and the reserve
covers stopping, checkpointing and writing the bundle (``tests/test_lease.py`` holds it to this with
a fake clock). The budget counts from the start of the command (``cli.STARTED``), imports included.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LtError

BUNDLE_LIMIT = 16 * 2**20
MANIFEST = "lease.json"
LOG = "lease.log"


def reserve_seconds(budget: float) -> float:
    """Time kept back from training for stopping, checkpointing and the bundle: 5% of the budget,
    at least 5 s and at most 30 s (a checkpoint is ~4 MB, written in well under a second)."""
    return min(30.0, max(5.0, 0.05 * budget))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(time.time())
    tar.addfile(info, io.BytesIO(data))


def write_bundle(path: Path, manifest: dict, log: list[str], results_dir: Path, runs_dir: Path,
                 finished: list[str], unfinished: list[str], limit: int = BUNDLE_LIMIT) -> dict:
    """The bundle at ``path``: results folders of ``finished``, checkpoints of ``unfinished`` (most
    epochs first, while they fit under ``limit``), the log and the manifest. Returns the manifest as
    written (what went in, what did not fit)."""
    files, size = [], 0
    for run_id in finished:
        for name in ("summary.json", "history.csv", "predictions.npz"):
            p = Path(results_dir) / run_id / name
            if p.is_file():
                files.append((f"results/{run_id}/{name}", p))
                size += p.stat().st_size
    kept, dropped = [], []
    reserve = 64 * 1024 + sum(len(line) + 1 for line in log)  # manifest, log, tar headers
    for run_id in unfinished:
        p = Path(runs_dir) / run_id / "checkpoint.pt"
        if not p.is_file():
            continue
        if size + p.stat().st_size + reserve <= limit:
            files.append((f"runs/{run_id}/checkpoint.pt", p))
            size += p.stat().st_size
            kept.append(run_id)
        else:
            dropped.append(run_id)
    manifest = {**manifest, "finished": finished, "checkpointed": kept,
                "not_bundled": {r: f"its checkpoint would take the bundle past {limit // 2**20} MiB; it stays in "
                                   f"{Path(runs_dir) / r}" for r in dropped}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tarfile.open(tmp, "w") as tar:
        _add_bytes(tar, MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
        _add_bytes(tar, LOG, ("\n".join(log) + "\n").encode())
        for name, p in files:
            tar.add(p, arcname=name)
    os.replace(tmp, path)
    return manifest


def run_lease(budget: float, profile: str = "full", seeds=(0,), experiments=None, device: str = "auto",
              out=None, results_dir="results", runs_dir="runs", data_root=None, jobs: int = 8,
              engine: dict | None = None, clock=time.monotonic, started: float | None = None,
              quiet: bool = False) -> dict:
    """Train the report's missing runs for ``budget`` seconds of ``clock`` (from ``started``, default
    now), then write the bundle; returns its manifest. ``experiments`` restricts the plan."""
    from ..learn.experiments import get_experiment
    from .engine import make_engine
    from .parallel import train_packed
    from .plan import plan_runs
    from .results import ensure_writable, git_state
    from .timing import relative_cost
    from .train import device_name, load_data, resolve_device

    started = clock() if started is None else started
    if budget <= 0:
        raise LtError(f"--budget must be a positive number of seconds, got {budget:g}")
    for name in experiments or ():
        get_experiment(name)
    dev = resolve_device(device)
    eng = make_engine(dev, profile=profile, **(engine or {}))
    ensure_writable(results_dir, "results", "--results")
    ensure_writable(runs_dir, "checkpoints", "--runs")
    out = Path(out) if out else Path("out") / f"lease-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.tar"
    ensure_writable(out.parent, "the bundle", "--out")
    deadline = started + budget - reserve_seconds(budget)
    log: list[str] = []

    def say(line: str) -> None:
        log.append(f"[{clock() - started:7.1f} s] {line}")
        if not quiet:
            print(line, flush=True)

    plan = plan_runs(profile, None, seeds, results_dir, dev, estimator=relative_cost, experiments=experiments)
    if dev.type == "cuda":  # before any GPU time: every entry it would train must capture
        from .preflight import refuse_failing

        refuse_failing([c.experiment for c, _, _ in plan], profile)
    say(f"lease of {budget:g} s on {device_name(dev)}: {len(plan)} run(s) missing ({profile} profile), "
        f"training until {deadline - started:.0f} s, {jobs} at once")
    unloadable = {}
    for cfg in {(c.source, c.imbalance): c for c, _, _ in plan}.values():  # also loads each set once, up front
        try:
            load_data(cfg, dev, data_root)
        except LtError as exc:
            unloadable[(cfg.source, cfg.imbalance)] = str(exc)
            say(f"skipping ratio {cfg.imbalance:g}: {exc}")
    plan = [p for p in plan if (p[0].source, p[0].imbalance) not in unloadable]
    timings = {}

    def on_outcome(o: dict) -> None:
        timings[o["run_id"]] = round(o["seconds"], 1)
        say(f"{o['run_id']}: {o['status']}" + (f" {o['overall']:.2f}%" if "overall" in o else "")
            + (f" ({o['detail']})" if o.get("detail") else "") + f" after {o['seconds']:.0f} s")

    outcomes = train_packed([cfg for cfg, _, _ in plan], jobs, device=device, quiet=True, clock=clock,
                            deadline=deadline, on_outcome=on_outcome, data_root=data_root, results_dir=results_dir,
                            runs_dir=runs_dir, resume=True, engine=engine)
    finished = [o["run_id"] for o in outcomes if o["status"] in ("completed", "diverged")]
    unfinished = sorted((o for o in outcomes if o["status"] == "paused"),
                        key=lambda o: -int(o["detail"].split()[-1]))
    not_started = [cfg.run_id for cfg, _, _ in plan if cfg.run_id not in {o["run_id"] for o in outcomes}]
    commit, dirty = git_state()
    manifest = {
        "kind": "lt_lib lease bundle", "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "budget_seconds": budget, "device": device_name(dev), "engine": eng.describe(), "profile": profile,
        "seeds": list(seeds), "git_commit": commit, "git_dirty": dirty, "run_seconds": timings,
        "failed": {o["run_id"]: o.get("detail", "") for o in outcomes if o["status"] == "failed"},
        "not_started": not_started, "skipped": {f"ratio {ratio:g}": why for (_, ratio), why in unloadable.items()},
    }
    say(f"{len(finished)} finished, {len(unfinished)} checkpointed, {len(not_started)} not started; "
        f"writing {out}")
    manifest = write_bundle(out, manifest, log, Path(results_dir), Path(runs_dir), finished,
                            [o["run_id"] for o in unfinished])
    manifest["bundle"], manifest["seconds"] = str(out), round(clock() - started, 1)
    if not quiet:
        print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB) after {manifest['seconds']:.0f} s of "
              f"{budget:g}; bring it here and run: python -m lt_lib import {out.name}")
    return manifest


# ----------------------------------------------------------------------------------------- import
def _read_bundle(path: Path) -> tuple[dict, dict]:
    """(manifest, {member name: bytes}) of a bundle, or one line saying what is wrong with it."""
    fix = "copy it again from the machine that wrote it"
    if not path.is_file():
        raise LtError(f"no bundle at {path}; pass the .tar file a lease wrote")
    try:
        with tarfile.open(path, "r") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        manifest = json.loads(members[MANIFEST])
        if manifest.get("kind") != "lt_lib lease bundle":
            raise ValueError("not a lease bundle manifest")
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise LtError(f"{path} is damaged or not a lease bundle ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:100] if str(exc) else ''}); {fix}") from None
    for name in members:
        parts = Path(name).parts
        if name not in (MANIFEST, LOG) and (len(parts) != 3 or parts[0] not in ("results", "runs") or ".." in parts):
            raise LtError(f"{path} holds an unexpected file {name!r}; {fix}")
    return manifest, members


def import_bundle(path, results_dir="results", runs_dir="runs", quiet: bool = False) -> dict:
    """Merge a lease bundle: finished runs into the results store (provenance kept, the bundle noted),
    checkpoints into the runs folder. Nothing is written when any run conflicts with a stored one
    (another config under the same run id): one line names it. Returns what was done per run."""
    import torch

    from ..learn.experiments import config_hash
    from .results import ResultsStore, atomic_write, ensure_writable
    from .train import load_checkpoint

    path = Path(path)
    manifest, members = _read_bundle(path)
    store = ResultsStore(results_dir)
    plan, done = [], {}
    for name, data in sorted(members.items()):
        parts = Path(name).parts
        if parts[0] == "results" and parts[2] == "summary.json":
            run_id = parts[1]
            try:
                summary = json.loads(data)
                new_hash = config_hash(summary["config"])
            except (ValueError, KeyError, TypeError) as exc:
                raise LtError(f"{path}: {name} is damaged ({type(exc).__name__}); copy the bundle again") from None
            stored = store.read(run_id)
            if stored is not None:
                if config_hash(stored["config"]) != new_hash:
                    raise LtError(f"{store.path(run_id)} holds a run with another config (hash "
                                  f"{config_hash(stored['config'])}) than the bundle's (hash {new_hash}); move it "
                                  "away or import into another folder with --results")
                done[run_id] = "already stored (same config), skipped"
                continue
            summary.setdefault("provenance", {})["imported_from"] = {
                "bundle": path.name, "lease_device": manifest.get("device"), "lease_commit": manifest.get("git_commit"),
                "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            if summary["provenance"].get("git_commit") is None:
                summary["provenance"]["git_commit"] = manifest.get("git_commit")
            history = members.get(f"results/{run_id}/history.csv", b"")
            plan.append((store.path(run_id), summary, (history, members.get(f"results/{run_id}/predictions.npz"))))
            done[run_id] = "imported into " + str(store.path(run_id))
        elif parts[0] == "runs":
            run_id = parts[1]
            target = Path(runs_dir) / run_id / "checkpoint.pt"
            try:
                ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                ckpt_hash, epoch = ckpt["config_hash"], ckpt["epoch"]
            except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a damaged file
                raise LtError(f"{path}: {name} is damaged ({type(exc).__name__}); copy the bundle again") from None
            if store.read(run_id) is not None:
                done[run_id] = "finished here already; its checkpoint skipped"
                continue
            if target.is_file():
                local = load_checkpoint(target, ckpt_hash)  # another config's checkpoint: one line
                if local["epoch"] >= epoch:
                    done[run_id] = f"a checkpoint at epoch {local['epoch']} is here already; the bundle's (epoch {epoch}) skipped"
                    continue
            plan.append((target, data, None))
            done[run_id] = f"checkpoint at epoch {epoch} into {target}; continue with --resume or the next lease"
    ensure_writable(results_dir, "results", "--results")
    ensure_writable(runs_dir, "checkpoints", "--runs")
    for target, content, extra in plan:
        if isinstance(content, bytes):
            atomic_write(target, lambda tmp, c=content: Path(tmp).write_bytes(c))
        else:
            history, predictions = extra
            atomic_write(target / "history.csv", lambda tmp, h=history: Path(tmp).write_bytes(h))
            if predictions is not None:
                atomic_write(target / "predictions.npz", lambda tmp, p=predictions: Path(tmp).write_bytes(p))
            atomic_write(target / "summary.json",
                         lambda tmp, s=content: Path(tmp).write_text(json.dumps(s, indent=2) + "\n"))
    if not quiet:
        for run_id, what in done.items():
            print(f"{run_id}: {what}")
    return done
