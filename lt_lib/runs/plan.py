"""Which runs are missing, and in what order they are trained: the report's plan (``plan_runs``, for
``report --train`` and ``lease``) and the CPU plan of full-schedule runs (``cpu_plan``, for ``python -m
lt_lib plan``), from the registry and the results store."""
from __future__ import annotations

from ..errors import LtError
from ..learn.experiments import HEADLINE, NOTEBOOK_RUNS, resolve
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


