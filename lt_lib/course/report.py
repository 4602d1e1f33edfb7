"""``python -m lt_lib report``: render the course from the stored runs (and, with ``--train``, train what
the notebooks miss first), headless with papermill, then build the course site.

By default nothing is trained: every notebook shows the stored runs of the best profile there is for
each (full, else quick, labelled per row), and the report ends with what is missing, its estimated
time on this device and the command that trains it (``--train``, or ``lease`` on a GPU). With
``--train`` the missing runs of the chosen profile are trained first, in an order that suits a short
GPU session (``plan_runs``: headline runs first, cheap before expensive), each with a progress bar;
an interrupted report continues where it stopped when run again (finished runs are stored, a
half-trained one resumes from its last checkpoint).

Each notebook gets the parameters (profile, device, folders, seeds, ...) injected after its cell
tagged ``parameters``; the executed copy goes to ``--out`` (git-ignored ``out/`` by default). A failing
notebook does not stop the others; the summary names the cell it failed at, numbered as in the
executed copy (whose cell 2 is papermill's injected parameters).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import LtError
from ..runs.plan import default_train_profile, plan_runs, print_plan  # noqa: F401 (re-exported)
from ..runs.results import ResultsStore
from .notebook import project_root, setup


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


def export_html(executed: Path) -> Path:
    """An HTML copy of an executed notebook next to it (nbconvert)."""
    import nbconvert
    import nbformat

    body, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def run_report(profile: str | None = None, notebooks=None, device: str = "auto", out=None, seeds=(0,),
               train: bool = False, retrain: bool = False, results_dir=None, figures_dir=None,
               data_root=None, runs_dir=None, progress: bool = True, notebooks_dir=None, dry_run: bool = False,
               html: bool = True, jobs: int | None = None, engine: dict | None = None, site: bool = True,
               site_dir=None, skip_damaged: bool = False, in_place: bool = False, launch=None) -> list[dict]:
    """Render the chosen notebooks (``--train``: after training their missing runs of ``profile``);
    returns [{notebook, status, seconds, output, detail}] and prints a summary, then what is missing.
    ``dry_run`` only prints the training plan. ``jobs`` runs at once (default: packed 8 on CUDA, 1 on
    a CPU); ``engine`` holds ``make_engine`` options.

    Everything it writes follows the flags: executed notebooks to ``out`` (default ``out/<profile>/``),
    the site to ``site_dir`` (default ``<out>/site`` when ``out`` is given, else ``out/site``, or
    ``out/smoke/site`` for the smoke profile), figures, results and runs to their folders. Before any
    planning it checks, failing in one line: those folders writable, CIFAR-10 readable where it is
    there (and present when real-data runs are to be trained), and every stored run readable (a
    damaged one stops the report unless ``skip_damaged``, which renders it shown as damaged). ``in_place`` renders the notebooks
    into notebooks/ themselves, with their own defaults (no parameters injected): how the committed course,
    whose stored outputs nbval checks, is made; it takes no training or folder flags.
    """
    if in_place and (train or dry_run or profile or results_dir or figures_dir or runs_dir or out or data_root):
        raise LtError("--in-place renders the notebooks as they are committed (their defaults): it takes no --train, "
                      "--dry-run, --profile, --out or folder flags")
    from ..learn.data import check_data
    from ..runs.results import ensure_writable, warn_once
    from ..runs.train import resolve_device

    root = project_root()
    dev = resolve_device(device)
    paths = find_notebooks(Path(notebooks_dir) if notebooks_dir else root / "notebooks", notebooks)
    train_profile = profile or default_train_profile(dev)
    nb = setup(profile or "auto", device=device, data_root=data_root, results_dir=results_dir,
               figures_dir=figures_dir, runs_dir=runs_dir, seeds=seeds, retrain=retrain, train_missing=train,
               quiet=True)
    smoke = (profile == "smoke")
    out_dir = Path(out) if out else paths[0].parent if in_place else root / "out" / (profile or "auto")
    if site_dir is None:
        site_dir = out_dir / "site" if out else root / "out" / ("smoke" if smoke else "") / "site"
    site_dir = Path(site_dir)
    # fail fast: every folder written to, the data, the stored runs
    if not dry_run:
        for folder, what, flag in ((nb.results_dir, "results", "--results"), (nb.figures_dir, "figures", "--figures"),
                                   (out_dir, "executed notebooks", "--out")) + (
                ((site_dir, "the course site", "--site"),) if site else ()) + (
                ((nb.runs_dir, "checkpoints and weights", "--runs"),) if train else ()):
            ensure_writable(folder, what, flag)
    if not smoke:
        check_data(nb.data_root, required=(train or dry_run) and train_profile != "smoke")
    damaged = ResultsStore(nb.results_dir).damaged()
    if damaged and not skip_damaged:
        more = f" (and {len(damaged) - 1} more damaged run(s))" if len(damaged) > 1 else ""
        raise LtError(f"{damaged[0]}{more}; nothing was rendered (or pass --skip-damaged to render with it shown as "
                      "damaged)")
    for line in damaged:
        warn_once(line)
    if profile:
        print(f"report: profile {profile}, {len(paths)} notebook(s), results in {nb.results_dir}", flush=True)
    else:
        print(f"report: the best stored profile per run (full, else quick), {len(paths)} notebook(s), "
              f"results in {nb.results_dir}", flush=True)
    if dry_run or train:
        print(f"planning the missing {train_profile}-profile runs on {dev.type} ...", flush=True)
        plan = plan_runs(train_profile, [p.name for p in paths], seeds, nb.results_dir, dev, retrain,
                         say=lambda line: print(line, flush=True), precision=(engine or {}).get("precision")
                         if (engine or {}).get("precision") not in (None, "auto") else None)
        print_plan(plan, dev.type)
        if dry_run:
            return []
        if launch is not None:  # submitit jobs (--launcher local or slurm)
            launch([cfg for cfg, _, _ in plan], device=device, data_root=nb.data_root, results_dir=nb.results_dir,
                   runs_dir=nb.runs_dir, force=retrain, engine=engine)
        else:
            _train_plan(plan, dev, device, nb, retrain, jobs, engine)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "device": device, "seeds": list(seeds), "train_missing": False,
              "retrain": False}  # what had to be (re)trained is trained above
    for key, value in (("results_dir", nb.results_dir), ("figures_dir", nb.figures_dir), ("data_root", data_root),
                       ("runs_dir", nb.runs_dir)):
        if value is not None:
            params[key] = str(Path(value).resolve())
    if in_place:
        params, html, site = None, False, False
    outcomes = [_execute(path, out_dir, params, progress, html, show_damaged=bool(damaged)) for path in paths]
    for o in outcomes:
        print(f"{o['notebook']:<28} {o['status']:<6} {o['seconds']:7.1f} s  {o['detail'] or o['output']}")
    _write_summary(nb.results_dir)
    if site:
        from .site import build_site

        index = build_site(out_dir, nb.results_dir, nb.figures_dir, profile or "auto", site_dir=site_dir,
                           notebooks_dir=paths[0].parent)
        print(f"course site: {index}")
    if not train:
        _print_missing(paths, seeds, nb, dev, profile)
    return outcomes


def _train_plan(plan, dev, device, nb, retrain, jobs, engine) -> None:
    from ..runs.parallel import train_many
    from ..runs.timing import duration
    from ..runs.train import train

    where = {"data_root": nb.data_root, "results_dir": nb.results_dir, "runs_dir": nb.runs_dir,
             "resume": not retrain, "force": retrain, "engine": engine}
    jobs = jobs or (8 if dev.type == "cuda" else 1)
    if jobs > 1 or dev.type == "cuda":
        train_many([cfg for cfg, _, _ in plan], jobs, device=device, **where)
        return
    for i, (cfg, seconds, _) in enumerate(plan, 1):
        print(f"[{i}/{len(plan)}] training {cfg.run_id} (~{duration(seconds)})", flush=True)
        t0 = time.perf_counter()
        try:
            summary = train(cfg, device=device, quiet=False, **where)
            print(f"  {cfg.run_id}: {summary['status']} in {duration(time.perf_counter() - t0)} "
                  f"(estimated {duration(seconds)})", flush=True)
        except LtError as exc:  # the notebook that needs it will say so; go on with the others
            print(f"  {cfg.run_id} failed: {exc}", flush=True)


def _execute(path: Path, out: Path, params: dict, progress: bool, html: bool, show_damaged: bool = False) -> dict:
    import os

    import papermill as pm

    target = out / path.name
    t0 = time.perf_counter()
    before = os.environ.get("LT_SHOW_DAMAGED")
    os.environ["LT_SHOW_DAMAGED"] = "1" if show_damaged else "0"  # the kernel inherits it (results.load_results)
    try:
        pm.execute_notebook(str(path), str(target), parameters=params, cwd=str(path.parent),
                            progress_bar=progress, kernel_name="python3")
        status, detail = "ok", ""
    except pm.PapermillExecutionError as exc:
        status, detail = "failed", (f"at cell In [{exc.exec_count}] of {target} "
                                    f"({exc.ename}: {str(exc.evalue)[:150]})")
    except Exception as exc:  # kernel start-up and similar: report, go on with the next notebook
        status, detail = "failed", f"({type(exc).__name__}: {exc})"
    finally:
        if before is None:
            os.environ.pop("LT_SHOW_DAMAGED", None)
        else:
            os.environ["LT_SHOW_DAMAGED"] = before
    if html and target.is_file():
        export_html(target)
    return {"notebook": path.stem, "status": status, "seconds": time.perf_counter() - t0, "output": str(target),
            "detail": detail}


def _write_summary(results_dir: Path) -> None:
    from ..runs.stats import write_summary_csv

    try:
        write_summary_csv(results_dir)
    except OSError as exc:
        print(f"summary.csv not written ({exc.strerror}); {results_dir} is not writable", file=sys.stderr)


def _print_missing(paths, seeds, nb, dev, profile) -> None:
    """What the shown notebooks still miss, per profile, with the times of ``timing.run_estimate`` from the
    recorded runs (the figures the dry run and the notebooks' how-to-run boxes print)."""
    from ..runs.timing import default_precision, duration, recorded, run_estimate

    speeds = recorded([nb.results_dir])
    for prof in ([profile] if profile else ["full", "quick"]):
        missing = [cfg for cfg, _, _ in plan_runs(prof, [p.name for p in paths], seeds, nb.results_dir, dev,
                                                   estimator=lambda c, d: (0.0, ""))]
        if prof == "smoke" or not missing:
            continue
        line = f"missing {len(missing)} {prof}-profile run(s)"
        for kind, name in (("cuda", "a GPU"), ("cpu", "a CPU")):
            times = [run_estimate(c, kind, speeds, default_precision(kind, prof))[0] for c in missing]
            known = [t for t in times if t is not None]
            if known:
                line += f"; on {name} about {duration(sum(known))}" + (
                    f" for {len(known)} of them (the rest not measured yet)" if len(known) < len(times) else "")
        print(line)
        print(f"  train them here: python -m lt_lib report --train --profile {prof}"
              + ("" if prof == "quick" else f"\n  or on a GPU session: python -m lt_lib lease --budget 540 "
                                            f"--profile {prof}, then python -m lt_lib import <bundle>"))
