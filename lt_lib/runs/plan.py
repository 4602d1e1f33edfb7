"""Which runs are missing, and in what order they are trained: the report's plan (``plan_runs``, for
``report --train`` and ``lease``) and the CPU plan of full-schedule runs (``cpu_plan``, for ``python -m
lt_lib plan``), from the registry and the results store."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from ..errors import LtError
from ..learn.experiments import HEADLINE, NOTEBOOK_RUNS, cpu_plan, resolve
from .results import ResultsStore


def default_train_profile(device) -> str:
    """What ``--train`` trains when no profile is named: the report's schedule on a GPU, the
    CPU-sized look on a CPU (a full run there takes hours)."""
    return "full" if getattr(device, "type", device) == "cuda" else "quick"


def stored_as_now(store: ResultsStore, cfg) -> bool:
    """Whether the store holds ``cfg``'s run under its current config (a damaged summary: no)."""
    try:
        return store.stored_hash(cfg.run_id) == cfg.config_hash
    except LtError:
        return False


def plan_runs(profile: str, notebooks=None, seeds=(0,), results_dir=None, device="cpu", retrain=False,
              estimator=None, experiments=None, say=None, precision: str | None = None) -> list:
    """The runs the chosen notebooks need that the results store lacks (or holds under an old
    setting), in training order: seed by seed; within a seed the headline runs at ratio 100, then the
    rest at 100, then the other ratios, each group cheapest first. ``experiments`` keeps only those.
    ``estimator(cfg, device)`` gives (seconds, basis) (default: ``timing.run_estimate`` from the runs
    recorded on this kind of device with ``precision`` (default: the engine's choice there), else a short
    measurement here); ``say`` gets a line per run as soon as it is estimated.
    Returns [(TrainConfig, seconds, basis)]."""
    from .timing import default_precision, duration, recorded, run_estimate

    wanted = [n[:2] for n in notebooks] if notebooks else list(NOTEBOOK_RUNS)
    store = ResultsStore(results_dir)
    configs = {}
    for number in wanted:
        for experiment, ratios in NOTEBOOK_RUNS.get(number, ()):
            if experiments and experiment not in experiments:
                continue
            for ratio in ratios:
                for seed in seeds:
                    cfg = resolve(experiment, ratio, profile, seed)
                    if retrain or not stored_as_now(store, cfg):  # (a damaged summary: train it again)
                        configs[cfg.run_id] = cfg
    if estimator is None:
        speeds = recorded([results_dir or "results"])
        kind = getattr(device, "type", str(device).split(":")[0])

        def estimator(c, d):
            return run_estimate(c, kind, speeds, precision or default_precision(kind, c.profile), measure_on=d)
    timed = []
    for c in configs.values():
        seconds, basis = estimator(c, device)
        timed.append((c, seconds, basis))
        if say:
            say(f"  {c.run_id:<44} ~{duration(seconds):>8}  ({basis})")

    def order(item):
        c, seconds, _ = item
        group = 0 if (c.experiment in HEADLINE and c.imbalance == 100) else 1 if c.imbalance == 100 else 2
        return c.seed, group, seconds

    return sorted(timed, key=order)


def print_plan(plan, device) -> None:
    """The plan, total first, one line per run with its estimate and basis."""
    from .timing import duration

    total = sum(s for _, s, _ in plan)
    print(f"{len(plan)} run(s) to train, estimated {duration(total)} on {device} in this order:")
    for cfg, seconds, basis in plan:
        print(f"  {cfg.run_id:<44} ~{duration(seconds):>8}  ({basis})")




def plan_status(results_dir, runs_dir, profile: str = "full", seed: int = 0) -> list[dict]:
    """Every run of the CPU plan (``experiments.cpu_plan``) with where it stands: stored (under its
    current setting), checkpointed (epoch), being trained by another process (the lock's holder), or to do."""
    import torch

    from .results import LOCK

    store, out = ResultsStore(results_dir), []
    for name, ratio in cpu_plan():
        cfg = resolve(name, ratio, profile, seed)
        row = {"cfg": cfg, "state": "to do"}
        if stored_as_now(store, cfg):
            s = store.read(cfg.run_id)
            row.update(state="stored", detail=f"{s['status']}, {s['final']['overall']:.2f}%")
        else:
            ckpt = Path(runs_dir) / cfg.run_id / "checkpoint.pt"
            if ckpt.is_file():
                try:
                    epoch = torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]
                    row.update(state="checkpointed", epoch=epoch, detail=f"epoch {epoch} of {cfg.epochs}")
                except Exception:  # noqa: BLE001 - resuming it will say what is wrong, in one line
                    row.update(state="checkpointed", detail="checkpoint unreadable")
            if _locked(Path(runs_dir) / cfg.run_id / LOCK):
                row.update(state="training", detail=(Path(runs_dir) / cfg.run_id / LOCK).read_text().strip())
        out.append(row)
    return out


def fit_window(items, jobs: int, seconds: float) -> tuple[list, list]:
    """The runs that finish within a window of ``seconds`` (a session's or a job's time left), ``jobs`` at a time.

    ``items``: [(key, seconds it still needs or None)] in priority order. Each run in turn goes to the slot
    that frees first, and is kept when it ends there within the window, so a long run does not hold a core
    that shorter ones after it could finish on. Returns (fits, after): the keys kept, in priority order,
    then the others, in priority order (they follow on the cores left, toward checkpoints a later call
    resumes). A run with no estimate does not fit."""
    free, fits, after = [0.0] * jobs, [], []
    for key, need in items:
        slot = min(range(jobs), key=free.__getitem__)
        if need is not None and free[slot] + need <= seconds:
            free[slot] += need
            fits.append(key)
        else:
            after.append(key)
    return fits, after


def _locked(path: Path) -> bool:
    """Whether a run's lock file is held by a living process (flock)."""
    import fcntl
    import os

    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def run_cpu_plan(jobs: int = 2, threads: int = 1, device: str = "cpu", results_dir="results", runs_dir="runs",
                 data_root=None, engine: dict | None = None, list_only: bool = False, profile: str = "full",
                 launch=None, hours: float | None = None) -> list:
    """``python -m lt_lib plan``: work through the CPU plan, ``jobs`` runs at a time of ``threads`` threads
    each (one per core), each resuming from its checkpoint, a line per epoch with the time left, a finished
    run written to the store at once. Stored runs and runs another process is training are skipped; run the
    same command again (the next session) to go on. ``list_only`` prints where each run stands. ``launch``
    (``launch.launch`` with the command's options) hands the runs to submitit instead. ``hours``: the time
    this machine is left for (a session, a job's limit): the runs whose estimates (``fit_window``, from the
    epochs each still needs) end within it train first, the rest after them."""
    from .parallel import train_many
    from .timing import default_precision, duration, recorded, run_estimate

    rows = plan_status(results_dir, runs_dir, profile)
    speeds = recorded([results_dir])
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    todo = [r for r in rows if r["state"] in ("to do", "checkpointed")]
    print(f"CPU plan: {len(rows)} {profile}-profile runs, {sum(r['state'] == 'stored' for r in rows)} stored, "
          f"{sum(r['state'] == 'training' for r in rows)} training elsewhere, {len(todo)} to train "
          f"({jobs} at a time, {threads} thread(s) each)", flush=True)
    needs = {}
    for r in rows:
        seconds, basis = run_estimate(r["cfg"], kind, speeds, default_precision(kind, profile))
        eta = f"~{duration(seconds)} ({basis})" if seconds is not None else basis
        print(f"  {r['cfg'].run_id:<40} {r['state']:<13} {r.get('detail') or eta}", flush=True)
        if seconds is not None:
            needs[r["cfg"].run_id] = seconds * (1 - r.get("epoch", 0) / r["cfg"].epochs)
    if hours is not None and todo:
        fits, after = fit_window([(r["cfg"].run_id, needs.get(r["cfg"].run_id)) for r in todo], jobs, hours * 3600)
        order = {run_id: i for i, run_id in enumerate(fits + after)}
        todo.sort(key=lambda r: order[r["cfg"].run_id])
        print(f"within {hours:g} h (until {datetime.now() + timedelta(hours=hours):%H:%M}), {jobs} at a time, "
              f"{len(fits)} run(s) end by the estimates: {', '.join(fits) or 'none'}; the rest follow toward "
              f"checkpoints", flush=True)
    if list_only or not todo:
        return []
    if launch is not None:
        return launch([r["cfg"] for r in todo], device=device, data_root=data_root, results_dir=results_dir,
                      runs_dir=runs_dir, engine=engine) or []
    return train_many([r["cfg"] for r in todo], jobs, threads, device, epoch_lines=True, data_root=data_root,
                      results_dir=results_dir, runs_dir=runs_dir, resume=True, engine=engine)
