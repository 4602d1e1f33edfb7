"""What a notebook needs in one object: resolved folders, the profile, and "show what is stored".

    nb = setup(profile, device=device, results_dir=results_dir, ...)
    runs = nb.runs(["reslt-a0.95"], ratios=[100])     # a DataFrame, one row per run asked for
    nb.save(fig, "02_curves_ir100", runs)              # figures/<name>.png, captioned with the runs shown

Run All is safe: interactively a notebook never trains. It shows, per run, the stored run of the best
profile there is (``auto``: full, else quick; each row says which), marks runs made under an older
setting of their registry entry, and lists what is missing with the time it would take on a GPU and
on a CPU, from the runs recorded in results/. Training happens only when asked: ``train_missing=True``
(the ``parameters`` cell, ``$LT_TRAIN_MISSING=1``, or ``python -m lt_lib report --train``).

Folders default to the project's ``results/``, ``figures/``, ``runs/`` and ``data/`` (or ``$LT_RESULTS``,
``$LT_FIGURES``, ``$LT_RUNS``, ``$LT_DATA``); checkpoints go beside a results folder given elsewhere.
The smoke profile never writes into the project's folders: unless told otherwise it uses ``out/smoke/``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..learn.experiments import PROFILES, get_profile, resolve
from ..learn.reference import SELECTION, lookup, paper_overall
from ..runs.results import RESULT_COLUMNS, ResultsStore, load_results, project_root
from ..runs.stats import FINISHED, aggregate, mean_std, rounded

AUTO = "auto"  # the best stored profile per run: full, else quick


def _folder(value, env: str, default: Path) -> Path:
    return Path(value or os.environ.get(env) or default)


def profile_label(profile: str, epochs=None) -> str:
    """'full, 200 epochs' / 'quick, 30 epochs' / 'smoke'."""
    if profile == "smoke":
        return "smoke (plumbing only)"
    epochs = epochs if epochs is not None and not (isinstance(epochs, float) and math.isnan(epochs)) else \
        PROFILES[profile].epochs
    return f"{profile}, {int(epochs)} epochs"


@dataclass
class Notebook:
    profile: str  # a profile name, or "auto"
    device: str
    data_root: Path
    results_dir: Path
    figures_dir: Path
    runs_dir: Path
    seeds: tuple
    retrain: bool
    train_missing: bool

    @property
    def profiles(self) -> tuple:
        """The profiles shown, best first."""
        return ("full", "quick") if self.profile == AUTO else (self.profile,)

    @property
    def train_profile(self) -> str:
        if self.profile != AUTO:
            return self.profile
        from ..runs.plan import default_train_profile
        from ..runs.train import resolve_device

        return default_train_profile(resolve_device(self.device))

    # ------------------------------------------------------------------------------------ runs
    def configs(self, experiments, ratios, profile=None):
        return [resolve(e, r, profile or self.train_profile, s) for e in experiments for r in ratios
                for s in self.seeds]

    def missing(self, experiments, ratios, profile=None) -> list:
        """The runs of the training profile (or ``profile``) that are not stored under their current setting."""
        store = ResultsStore(self.results_dir)
        configs = self.configs(experiments, ratios, profile)
        if self.retrain:
            return configs
        out = []
        for c in configs:
            try:
                if store.stored_hash(c.run_id) == c.config_hash:
                    continue
            except ValueError:
                pass
            out.append(c)
        return out

    def runs(self, experiments, ratios=(100,), train: bool = True, profile=None) -> pd.DataFrame:
        """One row per experiment x ratio x seed asked for: the stored run of the best profile shown
        (``profile`` per row; ``setting`` says "old setting" for a run made before its registry entry
        changed), or "not run yet". Missing runs are listed with their estimated times and, only when
        ``train_missing``, trained first. ``train=False`` only reads (tables gathering others' runs).
        ``profile`` shows that profile only, for comparisons that need every row alike."""
        todo = self.missing(experiments, ratios, profile) if train else []
        if todo:
            self._say_missing(todo)
            if self.train_missing:
                from ..runs.train import train as train_run

                for c in todo:
                    train_run(c, device=self.device, data_root=self.data_root, results_dir=self.results_dir,
                              runs_dir=self.runs_dir, force=self.retrain, resume=not self.retrain, quiet=True)
                    print(f"  done: {c.run_id}")
        table = load_results(self.results_dir)
        rank = {"current": 0, "old setting": 1}
        shown = (profile,) if profile else self.profiles
        rows = []
        for e in experiments:
            for r in ratios:
                for s in self.seeds:
                    found = table[(table.experiment == e) & (table.imbalance == float(r)) & (table.seed == s)
                                  & table.profile.isin(shown)]
                    if len(found):
                        found = found.assign(_p=found.profile.map(shown.index),
                                             _s=found.setting.map(lambda v: rank.get(v, 2)))
                        best = found.sort_values(["_s", "_p", "epochs"], ascending=[True, True, False]).iloc[0]
                        rows.append(best.drop(["_p", "_s"]).to_dict())
                    else:
                        rows.append({"run_id": resolve(e, r, profile or self.train_profile, s).run_id,
                                     "experiment": e, "imbalance": float(r), "seed": s,
                                     "profile": profile or self.train_profile,
                                     "status": "not run yet", "setting": ""})
        out = pd.DataFrame(rows).reindex(columns=RESULT_COLUMNS)  # every column, even with nothing stored
        out["shown as"] = [profile_label(p, e) if st in FINISHED else "damaged: its summary cannot be read"
                           if st == "damaged" else "" for p, e, st in
                           zip(out["profile"], out.get("epochs", [None] * len(out)), out["status"])]
        return out

    def common_profile(self, experiments, ratios=(100,)) -> str:
        """The profile shown in which the first of ``experiments`` and the most of the others have a
        stored run of their current setting (ties: the longer schedule): where rows compared against
        the first one are alike."""
        def score(p):
            rows = self.runs(experiments, ratios, train=False, profile=p)
            have = set(rows[rows.status.isin(FINISHED) & (rows.setting == "current")].experiment)
            return (experiments[0] in have, len(have))
        return max(self.profiles, key=score)  # max keeps the first of equals: the profiles go best first

    def _say_missing(self, todo) -> None:
        from ..runs.timing import default_precision, duration, recorded, run_estimate

        speeds = recorded([self.results_dir])
        verb = "training them now (train_missing=True)" if self.train_missing else \
            "not training (train_missing=False); shown are the stored runs"
        print(f"{len(todo)} {todo[0].profile}-profile run(s) not stored yet, {verb}:")
        for c in todo:
            parts = []
            for kind, name in (("cuda", "GPU"), ("cpu", "CPU")):
                seconds, basis = run_estimate(c, kind, speeds, default_precision(kind, c.profile))
                parts.append(f"{name} ~{duration(seconds)}" if seconds is not None else f"{name} not measured yet")
            print(f"  {c.run_id:<40} {', '.join(parts)}")

    def compare(self, runs: pd.DataFrame, against=("report", "paper")) -> pd.DataFrame:
        """Ours next to the published numbers, one row per experiment x ratio (ratios as numbers, in
        the order asked). Ours: the final epoch (the mean over the seeds present; ``± std (n)`` only
        from two seeds on) and, labelled, the best epoch (selected on the test set), since the papers'
        numbers are best-epoch ones; the report's are its final epoch. ``against`` picks the columns:
        ("report",) for a sweep, whose rows would only repeat one paper number."""
        nan = float("nan")
        asked = runs.groupby(["experiment", "imbalance"], sort=False).size() if len(runs) else {}
        runs = one_profile(runs)
        stats = aggregate(runs).set_index(["experiment", "imbalance"]) if len(runs) else pd.DataFrame()
        rows = []
        for (experiment, imbalance), group in runs.groupby(["experiment", "imbalance"], sort=False):
            have = (experiment, imbalance) in stats.index
            st = stats.loc[(experiment, imbalance)] if have else {}
            n = int(st["n"]) if have else 0
            done = group[group["status"].isin(FINISHED)]
            status = "not run yet" if not n else ", ".join(sorted(set(done["status"]))) + (
                f" ({n} of {asked[(experiment, imbalance)]} seeds)" if n < asked[(experiment, imbalance)] else "")
            if (group["status"] == "damaged").any():
                status = "damaged (its summary cannot be read)" if not n else status + ", a seed damaged"
            ours = {k: st[f"{k}_mean"] if have else nan for k in ("overall", "many", "medium", "few")}
            row = {"experiment": experiment, "ratio": int(imbalance) if float(imbalance).is_integer() else imbalance,
                   "runs": ", ".join(sorted(set(done.get("shown as", [])))) or status, "status": status,
                   "ours (final epoch)": mean_std(ours["overall"], st["overall_std"] if have else nan, n)
                   if n > 1 else ours["overall"],
                   "ours (best epoch, test-selected)": st["best_overall_mean"] if have else nan}
            if "setting" in done and (done["setting"] == "old setting").any():
                row["status"] += ", old setting"
            if "report" in against:
                report = lookup("report", experiment, imbalance)
                row[f"report ({SELECTION['report']})"] = nan if report is None else report
                row["ours - report"] = ours["overall"] - row[f"report ({SELECTION['report']})"]
            if "paper" in against:
                paper = paper_overall(experiment, imbalance)
                row[f"paper ({SELECTION['paper']})"] = nan if paper is None else paper
                row["ours best - paper"] = row["ours (best epoch, test-selected)"] - row[f"paper ({SELECTION['paper']})"]
            row.update({k: ours[k] for k in ("many", "medium", "few")})
            if "report" in against:
                for k in ("many", "medium", "few"):
                    value = lookup("report", experiment, imbalance, k)
                    row[f"report {k}"] = nan if value is None else value
            rows.append(row)
        table = pd.DataFrame(rows)
        return rounded(table) if len(table) else table

    def phase6(self, models: dict) -> pd.DataFrame:
        """The report's Phase 6 table: one row per model, per ratio our final-epoch accuracy (mean over
        the seeds present; ``± std (n)`` only from two seeds on), the report's number and the gap.
        ``models`` maps a row name to {ratio: experiment}."""
        rows = []
        for name, per_ratio in models.items():
            row = {"model": name}
            for ratio in (100, 50, 10):
                experiment = per_ratio.get(ratio)
                if experiment is None:
                    continue
                runs = one_profile(self.runs([experiment], [ratio], train=False))
                st = aggregate(runs)
                n = int(st["n"].iloc[0]) if len(st) else 0
                mean = st["overall_mean"].iloc[0] if n else math.nan
                report = lookup("report", experiment, ratio)
                row[f"{ratio}: ours"] = mean_std(mean, st["overall_std"].iloc[0], n) if n > 1 else (
                    f"{mean:.2f}" if n else "not run yet")
                shown = stored_label(runs)
                if shown:
                    row[f"{ratio}: ours"] += f" ({shown})"
                row[f"{ratio}: report"] = math.nan if report is None else report
                row[f"{ratio}: gap"] = mean - report if n and report is not None else math.nan
            rows.append(row)
        return rounded(pd.DataFrame(rows)).set_index("model")

    def calibration(self) -> pd.DataFrame:
        """The calibration runs (``reference.CALIBRATION``) against the published number of the same
        method: ours at the final and at the best epoch, the published one and which epoch it is (the
        papers' best; seed 004's ELF run its final), the gap like for like (our epoch of the same kind -
        published), and, once a full-profile ``ce-balanced`` run is stored, the data's cost (92.49 - its
        best epoch) and each gap after it."""
        from ..learn.experiments import EXPERIMENTS
        from ..learn.reference import CALIBRATION, published, published_by

        rows = []
        stored = load_results(self.results_dir)
        for experiment in CALIBRATION:
            for ratio in EXPERIMENTS[experiment].ratios:
                value, source = published(experiment, ratio)
                if value is None:
                    continue
                run = self.runs([experiment], [ratio], train=False).iloc[0]
                shown = [run.to_dict()] if run["status"] in FINISHED else []
                # full-schedule runs of an older setting stay in view: the only 200-epoch evidence until rerun
                others = stored[(stored.experiment == experiment) & (stored.imbalance == float(ratio))
                                & (stored.profile == "full") & (stored.folder != run.get("folder"))]
                for r in shown + others.assign(**{"shown as": "full, 200 epochs"}).to_dict("records") or [None]:
                    rows.append({"experiment": experiment, "ratio": int(ratio),
                                 "runs": r["shown as"] if r else "not run yet", "setting": r["setting"] if r else "",
                                 "ours (final epoch)": r["overall"] if r else math.nan,
                                 "ours (best epoch, test-selected)": r["best_overall"] if r else math.nan,
                                 "published": value,
                                 "published as": SELECTION[published_by(experiment)],
                                 "source": source})
        table = pd.DataFrame(rows)
        ours = table["ours (best epoch, test-selected)"].where(table["published as"] == "best epoch",
                                                               table["ours (final epoch)"])
        table["gap (like for like)"] = ours - table["published"]
        balanced = table[(table.experiment == "ce-balanced") & table.runs.str.startswith("full")
                         & (table.setting == "current")]
        if len(balanced):
            cost = -balanced["gap (like for like)"].iloc[0]
            table["gap after the data's cost"] = table["gap (like for like)"] + cost
        return rounded(table)

    def engine_check(self, folder: str = "engine-check") -> pd.DataFrame:
        """The bf16 check: quick runs of the same entries, seed and profile trained on a CPU in fp32 (the
        store) and in bf16 autocast + channels_last (``results/engine-check``, the engine a CPU with native
        bf16 uses for quick and full runs): final and best epoch of each, and bf16 - fp32."""
        rows = []
        for s in ResultsStore(self.results_dir / folder).summaries():
            fp32 = ResultsStore(self.results_dir).read(s["run_id"])
            for label, run in (("fp32", fp32), ("bf16", s)):
                if run is None:
                    continue
                prov = run.get("provenance") or {}
                engine = prov.get("engine") or {}
                rows.append({"experiment": run["experiment"], "ratio": int(run["imbalance"]), "engine": label,
                             "precision": engine.get("precision", "fp32"),
                             "memory format": "channels_last" if engine.get("channels_last") else "contiguous",
                             "device": (prov.get("device") or "").split(":", 1)[-1],
                             "final": run["final"]["overall"], "best (test-selected)": run["best"]["overall"],
                             "commit": (prov.get("git_commit") or "")[:7]})
        table = pd.DataFrame(rows)
        if table.empty:
            return table
        wide = table.pivot_table(index=["experiment", "ratio"], columns="engine", values="final")
        table["bf16 - fp32 (final)"] = [wide.loc[(e, r)].get("bf16", math.nan) - wide.loc[(e, r)].get("fp32", math.nan)
                                        if lab == "bf16" else math.nan
                                        for e, r, lab in zip(table.experiment, table.ratio, table.engine)]
        return rounded(table)

    def summary(self, run) -> dict | None:
        """A stored summary, by run id or by a row of ``runs`` (whose ``folder`` may be an old setting's)."""
        if not isinstance(run, str):
            run = run.get("folder") if isinstance(run.get("folder"), str) else run["run_id"]
        return ResultsStore(self.results_dir).read(run)

    def exit_table(self, runs: pd.DataFrame) -> pd.DataFrame:
        """Per early-exit run: the share of test images leaving at each exit and their accuracy, the
        expected FLOPs relative to the full network, and the best post-hoc threshold (test-selected)."""
        rows = []
        for r in runs.to_dict("records"):
            s = self.summary(r) if r.get("status") in FINISHED else None
            ex = (s or {}).get("exits")
            ratio = int(r["imbalance"])
            if not ex:
                rows.append({"experiment": r["experiment"], "ratio": ratio, "status": "not run yet"})
                continue
            row = {"experiment": r["experiment"], "ratio": ratio, "runs": r.get("shown as", ""),
                   "status": s["status"] + (", old setting" if r.get("setting") == "old setting" else ""),
                   "thresholds (train / inference)": f"{ex['train_threshold']:g} / {ex['inference_threshold']:g}"}
            for k, (f, a) in enumerate(zip(ex["fraction"], ex["accuracy"]), 1):
                row[f"exit {k}: share %"] = 100 * f
                row[f"exit {k}: acc %"] = a
            row["FLOPs vs full"] = ex["flops_ratio"]
            row["overall"] = s["final"]["overall"]
            best = ex["best_threshold"]
            row["best threshold (test-selected)"] = f"{best['threshold']:g}: {best['overall']:.2f}%"
            rows.append(row)
        return rounded(pd.DataFrame(rows))

    def config(self, run):
        """The ``TrainConfig`` a stored run was trained with (its own, old setting or not)."""
        from ..learn.experiments import TrainConfig

        return TrainConfig.from_dict(self.summary(run)["config"])

    def predictions(self, run) -> dict | None:
        """A stored run's test outputs (``ResultsStore.predictions``), by run id or by a row of ``runs``; None
        for a run that finished before runs stored them."""
        if not isinstance(run, str):
            run = run.get("folder") if isinstance(run.get("folder"), str) else run["run_id"]
        return ResultsStore(self.results_dir).predictions(run)

    def history(self, run) -> pd.DataFrame:
        """The per-epoch history, by run id or by a row of ``runs``."""
        if not isinstance(run, str):
            run = run.get("folder") if isinstance(run.get("folder"), str) else run["run_id"]
        return ResultsStore(self.results_dir).history(run)

    # ---------------------------------------------------------------------------- how to run
    def how_to_run(self, experiments, ratios=(100,), notebook: str = "") -> str:
        """The "how to run" box (Markdown): which profile, the commands, the measured minutes per run
        on a GPU and on a CPU (from the recorded runs' provenance), and what Run All does here.
        ``experiments`` are names (each at every ratio of ``ratios``) or (name, ratio) pairs."""
        from ..runs.timing import default_precision, duration, recorded, run_estimate

        speeds = recorded([self.results_dir])
        pairs = [p if isinstance(p, (tuple, list)) else (p, r) for p in experiments
                 for r in ((None,) if isinstance(p, (tuple, list)) else ratios)]
        lines = ["| run | full (200 epochs) on a GPU | quick (30 epochs) on a CPU |", "|---|---|---|"]
        devices = {"cuda": set(), "cpu": set()}
        for e, r in pairs:
            cells = []
            for prof, kind in (("full", "cuda"), ("quick", "cpu")):
                seconds, basis = run_estimate(resolve(e, r, prof), kind, speeds, default_precision(kind, prof))
                cells.append(f"~{duration(seconds)}" if seconds is not None else "not measured yet")
            lines.append(f"| `{e}` ratio {r:g} | {cells[0]} | {cells[1]} |")
        for s in speeds:
            devices[s["kind"]].add(s["device"].split(":", 1)[1])
        basis = "; ".join(f"{name}: {', '.join(sorted(devices[kind])) or 'none recorded yet'}"
                          for kind, name in (("cuda", "GPU"), ("cpu", "CPU")))
        stored = pd.concat([self.runs([e], [r], train=False) for e, r in pairs], ignore_index=True)
        have = stored[stored["status"].isin(FINISHED)]
        shown = ", ".join(f"{n} {p}" for p, n in have["profile"].value_counts().items()) or "none"
        nb = notebook or "NN"
        return "\n".join([
            "**How to run.** Run All shows the stored runs (full profile where stored, else quick) and trains "
            f"nothing; stored here: {len(have)} of {len(stored)} runs ({shown}).",
            f"To train what is missing: a GPU session `python -m lt_lib lease --budget 540` (then "
            f"`python -m lt_lib import <bundle>`), or here `python -m lt_lib report --train --notebooks {nb}` "
            "(full on a GPU, quick on a CPU), or set `train_missing = True` in the parameters cell.",
            f"Times per run, from the runs recorded in results/ (the same experiment where it was run, else the median "
            f"of runs alike in exits and augmentation; {basis}):", "", *lines])

    def time_words(self, experiment: str, ratio, profile: str = "full") -> str:
        """'about 1.5 h on a GPU and 31.2 h on a CPU' for one run, from the estimate the how-to-run box prints."""
        from ..runs.timing import default_precision, duration, recorded, run_estimate

        speeds = recorded([self.results_dir])
        parts = []
        for kind, name in (("cuda", "a GPU"), ("cpu", "a CPU")):
            seconds, _ = run_estimate(resolve(experiment, ratio, profile), kind, speeds, default_precision(kind, profile))
            parts.append(f"about {duration(seconds)} on {name}" if seconds is not None else f"not measured yet on {name}")
        return " and ".join(parts)

    # --------------------------------------------------------------------------------- figures
    def save(self, fig, name: str, runs: pd.DataFrame | None = None) -> None:
        """Save figures/<name>.png (the notebook shows it inline as usual). A figure of ``runs`` is captioned
        with what produced it (their profiles and epochs); a figure of data or a diagram carries no caption."""
        if runs is not None:
            shown = sorted({v for v in runs["shown as"] if v}) if "shown as" in runs else []
            old = " (some made under an old setting)" if (runs.get("setting") == "old setting").any() else ""
            caption = "runs shown: " + ("; ".join(shown) or "none stored") + old + (
                "; quick runs are not reproductions" if any(v.startswith("quick") for v in shown) else "")
            # below everything already drawn (tick labels and axis labels can reach under the axes)
            bottom = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / fig.get_figheight()
            fig.text(0.99, bottom - 0.01, caption, ha="right", va="top", fontsize=7, color="0.4")
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")


def one_profile(runs: pd.DataFrame) -> pd.DataFrame:
    """Per experiment and ratio, only the rows of the best profile present (full, quick, smoke) and, within
    it, of one setting (the registry's current one where present, else the first older one): seeds of
    different schedules or settings are never pooled. Rows not run yet stay (they count as asked for)."""
    if runs.empty:
        return runs
    rank = runs["profile"].map({"full": 0, "quick": 1, "smoke": 2}).fillna(3)
    done = runs["status"].isin(FINISHED)
    keys = [runs["experiment"], runs["imbalance"]]
    best = rank.where(done).groupby(keys).transform("min")
    runs = runs[~done | (rank == best)]
    if "setting_hash" not in runs:
        return runs
    done = runs["status"].isin(FINISHED)
    current = runs.get("setting", pd.Series("current", index=runs.index)).eq("current")
    # current first, then the older settings in the order they are listed
    order = pd.Series(range(len(runs)), index=runs.index) + (~current) * len(runs)
    first = order.where(done).groupby([runs["experiment"], runs["imbalance"]]).transform("min")
    chosen_hash = runs["setting_hash"].where(order == first).groupby(
        [runs["experiment"], runs["imbalance"]]).transform(lambda h: h.dropna().iloc[0] if h.notna().any() else None)
    return runs[~done | (runs["setting_hash"] == chosen_hash)]


def stored_label(runs: pd.DataFrame) -> str:
    """'quick' / 'full' / 'full, old setting' / 'full, diverged' for the stored rows of ``runs`` (a diverged
    run's accuracy is where it stopped, not where its schedule ends)."""
    done = runs[runs["status"].isin(FINISHED)]
    if done.empty:
        return ""
    label = "/".join(sorted(set(done["profile"])))
    label += ", old setting" if (done.get("setting") == "old setting").any() else ""
    diverged = int((done["status"] == "diverged").sum())
    return label + ("" if not diverged else ", diverged" if diverged == len(done) else
                    f", {diverged} of {len(done)} diverged")


def setup(profile=None, device="auto", data_root=None, results_dir=None, figures_dir=None, runs_dir=None,
          seeds=(0,), retrain=False, train_missing=None, quiet=False) -> Notebook:
    """Resolve a notebook's parameters (None = from the environment, else the default).

    ``profile`` None reads ``$LT_PROFILE``, default ``auto`` (full where stored, else quick).
    ``train_missing`` None reads ``$LT_TRAIN_MISSING`` (1 = train what is missing), default False.
    """
    profile = profile or os.environ.get("LT_PROFILE") or AUTO
    if train_missing is None:
        train_missing = os.environ.get("LT_TRAIN_MISSING", "0").lower() in ("1", "true", "yes")
    if profile != AUTO:
        get_profile(profile)
    root = project_root()
    out = root / "out" / "smoke" if profile == "smoke" else root
    results = _folder(results_dir, "LT_RESULTS", out / "results")
    beside = results.parent / "runs" if (results_dir or os.environ.get("LT_RESULTS")) else out / "runs"
    nb = Notebook(
        profile=profile, device=device,
        data_root=_folder(data_root, "LT_DATA", root / "data"),
        results_dir=results,
        figures_dir=_folder(figures_dir, "LT_FIGURES", out / "figures"),
        runs_dir=_folder(runs_dir, "LT_RUNS", beside),
        seeds=tuple(seeds), retrain=retrain, train_missing=train_missing,
    )
    if not quiet:
        what = PROFILES[profile].description if profile != AUTO else \
            "full where stored, else quick (each row says which)"
        print(f"profile: {profile} ({what}); training missing runs: {'yes' if train_missing else 'no'}")
    return nb
