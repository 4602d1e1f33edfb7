"""Runs handed to a job engine: submitit's LocalExecutor (each run a job on this machine) or SLURM (a job per
run, or a job array whose jobs each pack several runs on one GPU), for ``train-many``, ``report --train``
and the CPU plan (``--launcher``). submitit rather than our own: it writes the batch script, submits,
tracks, and requeues a preempted or timed-out job, calling ``RunJob.checkpoint``, which resubmits the
same runs: they resume from their checkpoints.

Jobs write into the shared results/ and runs/ folders under the runs' own locks, so a run is never
written twice (a second job for a stored run is a cache hit; for a run being trained, one line). Every
submission is recorded in ``<folder>/jobs.json``; ``python -m lt_lib status`` says from it, the store and
the locks which runs are queued, running, finished or failed.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LtError

LAUNCHERS = ("inline", "local", "slurm")
JOBS_FILE = "jobs.json"


@dataclass
class SlurmOptions:
    """What a SLURM job asks for (``--slurm-*`` flags)."""

    partition: str | None = None
    account: str | None = None
    time_min: int = 720
    gpus: int = 1
    cpus: int = 8
    mem: str | None = None
    runs_per_job: int = 1           # several runs in one job are packed on its GPU (parallel.train_packed)
    array_parallelism: int = 64
    setup: list = field(default_factory=list)  # shell lines before the job (module load, conda activate, ...)

    def parameters(self) -> dict:
        p = {"timeout_min": self.time_min, "gpus_per_node": self.gpus, "cpus_per_task": self.cpus,
             "slurm_array_parallelism": self.array_parallelism}
        for key, value in (("slurm_partition", self.partition), ("slurm_account", self.account),
                           ("slurm_mem", self.mem), ("slurm_setup", self.setup or None)):
            if value is not None:
                p[key] = value
        return p


def _submitit():
    try:
        import submitit
    except ImportError:  # pragma: no cover - a dependency of the install
        raise LtError("--launcher local or slurm needs submitit: python -m pip install submitit") from None
    return submitit


class RunJob:
    """One job: train its runs (packed on a GPU when several, one after another on a CPU), resuming; on
    preemption or timeout submitit calls ``checkpoint``, which resubmits the same job: the runs go on
    from their last checkpoints (they checkpoint every few epochs), nothing is trained twice."""

    def __init__(self, launcher: str, threads: int | None = None):
        self.launcher, self.threads = launcher, threads

    def __call__(self, configs, train_kwargs: dict) -> list[dict]:
        import torch

        from .parallel import _outcome, train_packed
        from .train import resolve_device, train

        if self.threads:
            torch.set_num_threads(self.threads)
        job = {"launcher": self.launcher, "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_JOB_ID")
               or _job_id()}
        kwargs = {**train_kwargs, "resume": not train_kwargs.get("force"), "quiet": True, "launcher": job}
        if len(configs) > 1 and resolve_device(train_kwargs.get("device", "auto")).type == "cuda":
            return train_packed(configs, len(configs), **kwargs)
        out = []
        for cfg in configs:
            t0 = time.perf_counter()
            try:
                summary = train(cfg, **kwargs)
                out.append(_outcome(cfg, summary, time.perf_counter() - t0))
            except LtError as exc:
                out.append(_outcome(cfg, None, time.perf_counter() - t0, str(exc)))
        return out

    def checkpoint(self, configs, train_kwargs: dict):
        submitit = _submitit()
        return submitit.helpers.DelayedSubmission(RunJob(self.launcher, self.threads), configs, train_kwargs)


def _job_id() -> str | None:
    try:
        import submitit

        return submitit.JobEnvironment().job_id
    except Exception:  # noqa: BLE001 - outside a submitit job
        return None


def executor(launcher: str, folder: Path, threads: int | None = None, slurm: SlurmOptions | None = None):
    submitit = _submitit()
    if launcher == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=60 * 24 * 7)
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    ex.update_parameters(name="lt_lib", **(slurm or SlurmOptions()).parameters())
    return ex


def sbatch_script(folder: Path, slurm: SlurmOptions | None = None, jobs: int = 1) -> str:
    """The sbatch script the first job array would be submitted with (``--dry-run``: shown, not submitted;
    no SLURM needed). Made by submitit's own script maker, with the command its SlurmExecutor submits
    (that executor refuses to exist where there is no ``srun``, and only writes the script while submitting)."""
    import shlex
    import sys

    _submitit()
    from submitit.slurm.slurm import _make_sbatch_string

    o = slurm or SlurmOptions()
    folder = Path(folder).expanduser().absolute()
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    params = {"job_name": "lt_lib", "time": o.time_min, "gpus_per_node": o.gpus, "cpus_per_task": o.cpus,
              "partition": o.partition, "account": o.account, "mem": o.mem, "setup": o.setup or None,
              "array_parallelism": o.array_parallelism, "map_count": jobs if jobs > 1 else None}
    return _make_sbatch_string(command=command, folder=folder, **{k: v for k, v in params.items() if v is not None})


def launch(configs, launcher: str, jobs: int = 1, threads: int | None = None, folder=None, wait: bool = True,
           slurm: SlurmOptions | None = None, dry_run: bool = False, say=print, **train_kwargs) -> list[dict]:
    """Train ``configs`` as submitit jobs; with ``wait`` a line per finished run and the outcomes, else the
    submissions (recorded in ``<folder>/jobs.json``). ``local``: ``jobs`` runs at a time, each a job of
    ``threads`` threads; ``slurm``: a job array, ``slurm.runs_per_job`` runs packed per job."""
    if launcher not in LAUNCHERS[1:]:
        raise LtError(f"unknown launcher {launcher!r}; choose one of {', '.join(LAUNCHERS)}")
    configs = list(configs)
    folder = Path(folder or "out/jobs")
    per = (slurm or SlurmOptions()).runs_per_job if launcher == "slurm" else 1
    groups = [configs[i:i + per] for i in range(0, len(configs), per)]
    if dry_run:
        if launcher != "slurm":
            raise LtError("--dry-run shows the sbatch script of --launcher slurm")
        say(f"{len(groups)} job(s) for {len(configs)} run(s), {per} run(s) per job; the first job's script:")
        say(sbatch_script(folder, slurm, len(groups)))
        return []
    folder.mkdir(parents=True, exist_ok=True)
    ex = executor(launcher, folder, threads, slurm)
    kwargs = {k: (str(Path(v).resolve()) if k.endswith(("_dir", "_root")) and v is not None else v)
              for k, v in train_kwargs.items()}  # absolute: a job, and `status`, may run elsewhere
    pending, running, outcomes = list(groups), [], []
    limit = len(groups) if launcher == "slurm" else max(1, jobs)

    def submit(group):
        job = ex.submit(RunJob(launcher, threads), group, kwargs)
        _record(folder, launcher, job.job_id, [c.run_id for c in group], kwargs)
        say(f"submitted {', '.join(c.run_id for c in group)} as {launcher} job {job.job_id}")
        return job, group

    if launcher == "slurm":  # one job array
        with ex.batch():
            submitted = [(ex.submit(RunJob(launcher, threads), group, kwargs), group) for group in pending]
        pending = []
        for job, group in submitted:
            _record(folder, launcher, job.job_id, [c.run_id for c in group], kwargs)
            say(f"submitted {', '.join(c.run_id for c in group)} as slurm job {job.job_id}")
        running = submitted
    while pending and len(running) < limit:
        running.append(submit(pending.pop(0)))
    if not wait:
        say(f"{len(running)} job(s) submitted; follow them with: python -m lt_lib status --jobs {folder}")
        return [{"run_id": c.run_id, "status": "submitted", "job_id": job.job_id} for job, group in running
                for c in group]
    total = len(configs)
    while running:
        time.sleep(0.5)
        for item in [r for r in running if r[0].done()]:
            running.remove(item)
            job, group = item
            try:
                results = job.result()
            except Exception as exc:  # noqa: BLE001 - a job's failure is one outcome per run, not a crash
                first = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
                results = [{"run_id": c.run_id, "status": "failed", "detail": first, "seconds": 0.0} for c in group]
            for o in results:
                outcomes.append(o)
                result = f"{o['overall']:.2f}%" if "overall" in o else o.get("detail", "")
                say(f"[{len(outcomes)}/{total}] {o['run_id']}: {o['status']} {result} ({launcher} job {job.job_id})")
            if pending:
                running.append(submit(pending.pop(0)))
    return outcomes


def _record(folder: Path, launcher: str, job_id: str, run_ids: list, kwargs: dict) -> None:
    from .results import atomic_write_text

    path = folder / JOBS_FILE
    jobs = json.loads(path.read_text()) if path.is_file() else []
    jobs.append({"job_id": str(job_id), "launcher": launcher, "run_ids": run_ids,
                 "results_dir": kwargs.get("results_dir"), "runs_dir": kwargs.get("runs_dir"),
                 "submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    atomic_write_text(path, json.dumps(jobs, indent=1) + "\n")


def job_status(folder) -> list[dict]:
    """Each submitted run of ``<folder>/jobs.json``: finished (stored, with its status), running (its lock
    held), failed (its job ended with an error, or it finished without storing the run), or queued."""
    from .plan import _locked
    from .results import LOCK, ResultsStore

    folder = Path(folder)
    path = folder / JOBS_FILE
    if not path.is_file():
        raise LtError(f"no {JOBS_FILE} in {folder}: nothing was submitted there (--jobs-folder)")
    try:
        jobs = json.loads(path.read_text())
    except ValueError as exc:
        raise LtError(f"{path} is damaged ({exc}); delete it (the jobs themselves go on)") from None
    latest = {}
    for job in jobs:  # a run submitted again (requeued by hand) is shown by its latest job
        for run_id in job["run_ids"]:
            latest[run_id] = job
    rows = []
    for run_id, job in latest.items():
        store = ResultsStore(job.get("results_dir") or "results")
        summary = store.read(run_id)
        result = folder / f"{job['job_id']}_0_result.pkl"
        if summary is not None:
            state, detail = "finished", f"{summary['status']}, {summary['final']['overall']:.2f}%"
        elif _locked(Path(job.get("runs_dir") or "runs") / run_id / LOCK):
            state, detail = "running", ""
        elif result.is_file():
            state, detail = "failed", _result_error(result)
        else:
            state, detail = "queued", ""
        rows.append({"run_id": run_id, "job_id": job["job_id"], "launcher": job["launcher"], "state": state,
                     "detail": detail})
    return rows


def _result_error(path: Path) -> str:
    import pickle

    try:
        with open(path, "rb") as f:
            kind, value = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - an unreadable result is itself what to say
        return f"its result {path.name} is unreadable ({type(exc).__name__})"
    if kind == "success":
        failed = [o for o in value if o.get("status") == "failed"]
        return failed[0]["detail"] if failed else "the job ended without storing the run"
    return str(value).strip().splitlines()[-1][:200] if str(value).strip() else "the job failed"

