"""What a notebook needs in one object: resolved folders, the profile, and "load if stored, else train".

    nb = setup(profile, device=device, results_dir=results_dir, ...)
    runs = nb.runs(["reslt-a0.95"], ratios=[100])     # a DataFrame; trains what is missing
    nb.save(fig, "01_curves_ir100")                    # figures/<name>.png, captioned with the profile

Folders default to the project's ``results/``, ``figures/``, ``runs/`` and ``data/`` (or ``$LT_RESULTS``,
``$LT_FIGURES``, ``$LT_RUNS``, ``$LT_DATA``). The smoke profile never writes into the project's
results/ or figures/: unless told otherwise it uses ``out/smoke/``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .experiments import PROFILES, get_profile, resolve
from .reference import lookup, paper_overall
from .results import ResultsStore, load_results
from .stats import FINISHED, aggregate


def project_root(start=None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding lt_lib/ and
    notebooks/; the working directory when there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "lt_lib").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return here


def _folder(value, env: str, default: Path) -> Path:
    return Path(value or os.environ.get(env) or default)


@dataclass
class Notebook:
    profile: str
    device: str
    data_root: Path
    results_dir: Path
    figures_dir: Path
    runs_dir: Path
    seeds: tuple
    retrain: bool
    train_missing: bool

    @property
    def caption(self) -> str:
        return f"profile: {self.profile} ({PROFILES[self.profile].label})"

    # ------------------------------------------------------------------------------------ runs
    def configs(self, experiments, ratios):
        return [resolve(e, r, self.profile, s) for e in experiments for r in ratios for s in self.seeds]

    def missing(self, experiments, ratios) -> list:
        store = ResultsStore(self.results_dir)
        if self.retrain:
            return self.configs(experiments, ratios)
        return [c for c in self.configs(experiments, ratios) if store.stored_hash(c.run_id) != c.config_hash]

    def runs(self, experiments, ratios=(100,), train: bool = True) -> pd.DataFrame:
        """Stored runs of these experiments x ratios x seeds; missing ones are trained first (when
        ``train_missing``) or listed as "not run yet". One row per run, in the order asked.
        ``train=False`` only reads the store (for tables that gather other notebooks' runs)."""
        from .train import estimate_seconds, resolve_device, train as train_run

        todo = self.missing(experiments, ratios) if train else []
        if todo:
            dev = resolve_device(self.device)
            est = {c.run_id: estimate_seconds(c, dev) for c in todo}
            verb = "training" if self.train_missing else "not training (train_missing=False)"
            print(f"{len(todo)} run(s) missing, {verb}; estimated on {dev.type}: "
                  f"{sum(est.values()) / 60:.1f} min in all")
            for c in todo:
                print(f"  {c.run_id:<40} ~{est[c.run_id] / 60:.1f} min")
            if self.train_missing:
                for c in todo:
                    train_run(c, device=self.device, data_root=self.data_root, results_dir=self.results_dir,
                          runs_dir=self.runs_dir, force=self.retrain, quiet=True)
                    print(f"  done: {c.run_id}")
        table = load_results(self.results_dir).set_index("run_id")
        rows = []
        for c in self.configs(experiments, ratios):
            if c.run_id in table.index and table.loc[c.run_id, "profile"] == self.profile:
                rows.append(table.loc[c.run_id].to_dict() | {"run_id": c.run_id})
            else:
                rows.append({"run_id": c.run_id, "experiment": c.experiment, "imbalance": c.imbalance,
                             "seed": c.seed, "profile": self.profile, "status": "not run yet"})
        return pd.DataFrame(rows)

    def compare(self, runs: pd.DataFrame) -> pd.DataFrame:
        """Ours (final epoch; mean over the seeds present, with the sample std from two seeds on and
        the count n) next to the report's and the paper's numbers, with the gaps; the best epoch
        beside it, labelled (it is selected on the test set). One row per experiment x ratio."""
        nan = float("nan")
        stats = aggregate(runs).set_index(["experiment", "imbalance"])
        rows = []
        for (experiment, imbalance), group in runs.groupby(["experiment", "imbalance"], sort=False):
            have = (experiment, imbalance) in stats.index
            st = stats.loc[(experiment, imbalance)] if have else {}
            n = int(st["n"]) if have else 0
            finished = sorted(set(group["status"]) & set(FINISHED))
            status = "not run yet" if not n else ", ".join(finished) + (f" ({n} of {len(group)} seeds)"
                                                                          if n < len(group) else "")
            ours = {k: st[f"{k}_mean"] if have else nan for k in ("overall", "many", "medium", "few")}
            report = {k: lookup("report", experiment, imbalance, k) for k in ours}
            report = {k: nan if v is None else v for k, v in report.items()}
            paper = paper_overall(experiment, imbalance)
            paper = nan if paper is None else paper
            rows.append({
                "experiment": experiment, "ratio": f"{imbalance:g}", "n": n, "status": status,
                "ours": ours["overall"], "± std": st["overall_std"] if have else nan,
                "report": report["overall"], "paper": paper,
                "ours - report": ours["overall"] - report["overall"], "ours - paper": ours["overall"] - paper,
                "best epoch (test-selected)": st["best_overall_mean"] if have else nan,
                **{k: ours[k] for k in ("many", "medium", "few")},
                **{f"report {k}": report[k] for k in ("many", "medium", "few")},
            })
        return pd.DataFrame(rows).round(2)

    def summary(self, run_id: str) -> dict | None:
        return ResultsStore(self.results_dir).read(run_id)

    def exit_table(self, runs: pd.DataFrame) -> pd.DataFrame:
        """Per early-exit run: the share of test images leaving at each exit and their accuracy, the
        expected FLOPs relative to the full network, and the best post-hoc threshold (test-selected)."""
        rows = []
        for r in runs.to_dict("records"):
            s = self.summary(r["run_id"]) if r.get("status") in FINISHED else None
            ex = (s or {}).get("exits")
            if not ex:
                rows.append({"experiment": r["experiment"], "ratio": f"{r['imbalance']:g}", "status": "not run yet"})
                continue
            row = {"experiment": r["experiment"], "ratio": f"{r['imbalance']:g}", "status": s["status"],
                   "thresholds (train / inference)": f"{ex['train_threshold']:g} / {ex['inference_threshold']:g}"}
            for k, (f, a) in enumerate(zip(ex["fraction"], ex["accuracy"]), 1):
                row[f"exit {k}: share %"] = 100 * f
                row[f"exit {k}: acc %"] = a
            row["FLOPs vs full"] = ex["flops_ratio"]
            row["overall"] = s["final"]["overall"]
            best = ex["best_threshold"]
            row["best threshold (test-selected)"] = f"{best['threshold']:g}: {best['overall']:.2f}%"
            rows.append(row)
        return pd.DataFrame(rows).round(2)

    def history(self, run_id: str) -> pd.DataFrame:
        return ResultsStore(self.results_dir).history(run_id)

    # --------------------------------------------------------------------------------- figures
    def save(self, fig, name: str) -> None:
        """Caption the figure with the profile that produced it and save figures/<name>.png (the
        figure is shown inline by the notebook as usual)."""
        # below everything already drawn (tick labels and axis labels can reach under the axes)
        bottom = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / fig.get_figheight()
        fig.text(0.99, bottom - 0.01, self.caption, ha="right", va="top", fontsize=7, color="0.4")
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")


def setup(profile=None, device="auto", data_root=None, results_dir=None, figures_dir=None, runs_dir=None,
          seeds=(0,), retrain=False, train_missing=None, quiet=False) -> Notebook:
    """Resolve a notebook's parameters (None = from the environment, else the project default).

    ``train_missing`` None reads ``$LT_TRAIN_MISSING`` (0 = show stored runs only), default True.
    """
    profile = profile or os.environ.get("LT_PROFILE", "full")
    if train_missing is None:
        train_missing = os.environ.get("LT_TRAIN_MISSING", "1").lower() not in ("0", "false", "no")
    get_profile(profile)
    root = project_root()
    out = root / "out" / "smoke" if profile == "smoke" else root
    nb = Notebook(
        profile=profile, device=device,
        data_root=_folder(data_root, "LT_DATA", root / "data"),
        results_dir=_folder(results_dir, "LT_RESULTS", out / "results"),
        figures_dir=_folder(figures_dir, "LT_FIGURES", out / "figures"),
        runs_dir=_folder(runs_dir, "LT_RUNS", root / "runs"),
        seeds=tuple(seeds), retrain=retrain, train_missing=train_missing,
    )
    if not quiet:
        print(f"profile: {profile} ({PROFILES[profile].description})")
        def show(path):
            try:
                return str(path.resolve().relative_to(root))
            except ValueError:
                return str(path)

        print(f"results: {show(nb.results_dir)}   figures: {show(nb.figures_dir)}   "
              f"started {time.strftime('%Y-%m-%d %H:%M')}")
    return nb
