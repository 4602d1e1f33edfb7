"""``python -m lt_lib report``: train what the notebooks need, then execute them headless with papermill.

The runs the chosen notebooks need (``NOTEBOOK_RUNS``) that the results store lacks are trained
first, in an order that fits a short GPU lease (``plan_runs``: headline runs first, cheap before
expensive); ``--dry-run`` prints that plan with estimated times and stops.

Each notebook gets the parameters (profile, device, folders, seeds, ...) injected after its cell
tagged ``parameters``; the executed copy goes to ``--out`` (git-ignored ``out/`` by default). A failing
notebook does not stop the others; the summary names the cell it failed at, numbered as in the
executed copy (whose cell 2 is papermill's injected parameters).
"""
from __future__ import annotations

import time
from pathlib import Path

from .errors import LtError
from .experiments import GAP_VARIANTS, resolve
from .notebook import project_root, setup
from .results import ResultsStore


def find_notebooks(folder: Path, wanted=None) -> list[Path]:
    """Notebooks ``NN_*.ipynb`` of ``folder`` in order; ``wanted`` picks numbers such as ["00", "02"]."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise LtError(f"no numbered notebooks (NN_*.ipynb) in {folder}; run from the project root")
    if not wanted:
        return found
    by_number = {p.name[:2]: p for p in found}
    unknown = [w for w in wanted if w.zfill(2) not in by_number]
    if unknown:
        raise LtError(f"no notebook numbered {', '.join(unknown)}; there are {', '.join(by_number)}")
    return [by_number[w.zfill(2)] for w in wanted]


# The runs each notebook trains when they are missing (a test checks these against the notebooks'
# ``nb.runs`` calls). Notebook 08 reads every stored run; it trains only the one-factor variants.
NOTEBOOK_RUNS = {
    "01": [("reslt-a0.95", (100,))],
    "02": [("reslt-a0.9", (100,)), ("reslt-a0.95", (100,)), ("reslt-a0.99", (100,)), ("reslt-a0.995", (100,)),
           ("reslt-a0.95-aa", (100,)), ("reslt-a0.95-aa-ls", (100, 50, 10)), ("reslt-paper", (100, 50, 10))],
    "03": [("elf-ldam-drw", (100, 50, 10)), ("elf-ldam-drw-lr0.01", (100,))],
    "04": [("model1", (100,)), ("model2", (100,)), ("model3", (100,))],
    "05": [("model4", (100,)), ("model7", (100,))],
    "06": [("model5", (100,)), ("model6", (100,)), ("model14", (100,)), ("model15", (50,)), ("model16", (10,))],
    "07": [("model8", (100,)), ("model12", (50,)), ("model13", (10,))],
    "08": [("ce", (100,)), ("reslt-a0.95-aa-ls", (100,)), ("reslt-paper", (100,)),
           *((name, (100,)) for name in GAP_VARIANTS)],
}

# Trained first, so that a short lease yields the report's headline comparisons before the rest.
HEADLINE = ("reslt-a0.95-aa-ls", "elf-ldam-drw", "model7", "model14", "reslt-paper", "ce")


def plan_runs(profile: str, notebooks=None, seeds=(0,), results_dir=None, device="cpu", retrain=False) -> list:
    """The runs the chosen notebooks need that the results store lacks, in training order:
    seed by seed; within a seed the headline runs at ratio 100, then the rest at 100, then the other
    ratios, each group cheapest first. Returns [(TrainConfig, estimated seconds)]."""
    from .train import estimate_seconds

    wanted = [n[:2] for n in notebooks] if notebooks else list(NOTEBOOK_RUNS)
    store = ResultsStore(results_dir)
    configs = {}
    for number in wanted:
        for experiment, ratios in NOTEBOOK_RUNS.get(number, ()):
            for ratio in ratios:
                for seed in seeds:
                    cfg = resolve(experiment, ratio, profile, seed)
                    if retrain or store.stored_hash(cfg.run_id) != cfg.config_hash:
                        configs[cfg.run_id] = cfg
    timed = [(c, estimate_seconds(c, device)) for c in configs.values()]

    def order(item):
        c, seconds = item
        group = 0 if (c.experiment in HEADLINE and c.imbalance == 100) else 1 if c.imbalance == 100 else 2
        return c.seed, group, seconds

    return sorted(timed, key=order)


def print_plan(plan, device) -> None:
    total = sum(s for _, s in plan)
    print(f"{len(plan)} run(s) to train, estimated {total / 60:.1f} min on {device} (from measured images/s):")
    for cfg, seconds in plan:
        print(f"  {cfg.run_id:<44} ~{seconds / 60:6.1f} min")


def export_html(executed: Path) -> Path:
    """An HTML copy of an executed notebook next to it (nbconvert)."""
    import nbconvert
    import nbformat

    body, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def run_report(profile: str | None = None, notebooks=None, device: str = "auto", out=None, seeds=(0,),
               train_missing: bool = True, retrain: bool = False, results_dir=None, figures_dir=None,
               data_root=None, runs_dir=None, progress: bool = True, notebooks_dir=None, dry_run: bool = False,
               html: bool = True, jobs: int = 1, engine: dict | None = None) -> list[dict]:
    """Train the missing runs of the chosen notebooks (in ``plan_runs`` order; an interrupted report
    continues where it stopped), then execute the notebooks; returns [{notebook, status, seconds,
    output, detail}] and prints a summary. ``dry_run`` only prints the plan. ``jobs`` > 1 trains that
    many runs at once in worker processes (``train_many``); ``engine`` holds ``make_engine`` options."""
    import papermill as pm

    from .train import resolve_device, train

    root = project_root()
    paths = find_notebooks(Path(notebooks_dir) if notebooks_dir else root / "notebooks", notebooks)
    nb = setup(profile, device=device, data_root=data_root, results_dir=results_dir, figures_dir=figures_dir,
               runs_dir=runs_dir, seeds=seeds, retrain=retrain, train_missing=train_missing, quiet=True)
    if dry_run or train_missing:
        dev = resolve_device(device)
        plan = plan_runs(nb.profile, [p.name for p in paths], seeds, nb.results_dir, dev, retrain)
        print_plan(plan, dev.type)
        if dry_run:
            return []
        where = {"data_root": nb.data_root, "results_dir": nb.results_dir, "runs_dir": nb.runs_dir,
                 "resume": not retrain, "force": retrain, "engine": engine}
        if jobs > 1:
            from .parallel import train_many

            train_many([cfg for cfg, _ in plan], jobs, device=device, **where)
        else:
            for i, (cfg, seconds) in enumerate(plan, 1):
                print(f"[{i}/{len(plan)}] training {cfg.run_id} (~{seconds / 60:.1f} min)", flush=True)
                try:
                    train(cfg, device=device, quiet=True, **where)
                except LtError as exc:  # the notebook that needs it will say so; go on with the others
                    print(f"  {cfg.run_id} not trained: {exc}")
    out = Path(out) if out else root / "out" / nb.profile
    out.mkdir(parents=True, exist_ok=True)
    params = {"profile": nb.profile, "device": device, "seeds": list(seeds), "train_missing": train_missing,
              "retrain": False}  # what had to be (re)trained is trained above
    for key, value in (("results_dir", results_dir), ("figures_dir", figures_dir), ("data_root", data_root),
                       ("runs_dir", runs_dir)):
        if value is not None:
            params[key] = str(Path(value).resolve())
    outcomes = []
    for path in paths:
        target = out / path.name
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(path), str(target), parameters=params, cwd=str(path.parent),
                                progress_bar=progress, kernel_name="python3")
            status, detail = "ok", ""
        except pm.PapermillExecutionError as exc:
            status, detail = "failed", (f"at cell In [{exc.exec_count}] of {target} "
                                        f"({exc.ename}: {str(exc.evalue)[:150]})")
        except Exception as exc:  # kernel start-up and similar: report, go on with the next notebook
            status, detail = "failed", f"({type(exc).__name__}: {exc})"
        if html and target.is_file():
            export_html(target)
        outcomes.append({"notebook": path.stem, "status": status, "seconds": time.perf_counter() - t0,
                         "output": str(target), "detail": detail})
    for o in outcomes:
        print(f"{o['notebook']:<28} {o['status']:<6} {o['seconds']:7.1f} s  {o['detail'] or o['output']}")
    return outcomes
