"""The results store: ``results/<run_id>/summary.json`` (+ ``history.csv``), written atomically.

summary.json is the contract other tools read. Keys: experiment, imbalance, seed, profile, status
("completed" | "diverged"), epochs_completed, final {overall, many, medium, few, per_class[10]}
(percent), best {overall, epoch}, divergence (null or {epoch, reason}), config (every setting),
config_hash, run_id, data {source, counts, train_images}, provenance {git_commit, git_dirty, torch,
device, started_at, finished_at, wall_seconds, train_images_per_second, resumed_at_epochs}.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from .errors import LtError

SUMMARY = "summary.json"
HISTORY = "history.csv"


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def git_state(cwd=None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository around ``cwd`` (the package's folder by default)."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10).stdout
        return commit, (bool(status.strip()) if commit else None)
    except (OSError, subprocess.SubprocessError):
        return None, None


class ResultsStore:
    """A folder of runs, one sub-folder per run id."""

    def __init__(self, root="results"):
        self.root = Path(root)

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def read(self, run_id: str) -> dict | None:
        p = self.path(run_id) / SUMMARY
        if not p.is_file():
            return None
        return json.loads(p.read_text())

    def history(self, run_id: str) -> pd.DataFrame:
        p = self.path(run_id) / HISTORY
        return pd.read_csv(p) if p.is_file() else pd.DataFrame()

    def stored_hash(self, run_id: str) -> str | None:
        """The config hash of a stored run, recomputed from its recorded config."""
        from .experiments import config_hash

        old = self.read(run_id)
        return config_hash(old["config"]) if old else None

    def check_writable(self, run_id: str, config_hash: str, force: bool = False) -> dict | None:
        """The stored summary with the same config (a cache hit), or None if the run may be written.

        A stored run with a different config is never overwritten without ``force``.
        """
        old = self.read(run_id)
        if old is None or force:
            return None
        stored = self.stored_hash(run_id)
        if stored == config_hash:
            return old
        raise LtError(f"{self.path(run_id)} holds a run with a different config (hash {stored}, "
                      f"this one {config_hash}); pass --force to overwrite it or --results DIR to write elsewhere")

    def write(self, summary: dict, history: list[dict], force: bool = False) -> Path:
        run_id = summary["run_id"]
        self.check_writable(run_id, summary["config_hash"], force)
        folder = self.path(run_id)
        atomic_write_text(folder / HISTORY, pd.DataFrame(history).to_csv(index=False))
        atomic_write_text(folder / SUMMARY, json.dumps(summary, indent=2) + "\n")
        return folder / SUMMARY

    def summaries(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.root.glob(f"*/{SUMMARY}"))]


def registry_setting(summary: dict) -> str:
    """``current`` when a stored run's config is what the registry gives for it today, ``old setting``
    when the registry's entry has changed since (the run stays readable and is shown labelled), or
    ``not in the registry``."""
    from .experiments import EXPERIMENTS, PROFILES, config_hash, resolve

    if summary.get("experiment") not in EXPERIMENTS or summary.get("profile") not in PROFILES:
        return "not in the registry"
    config = summary.get("config") or {}
    epochs = config.get("epochs")
    try:
        now = resolve(summary["experiment"], summary["imbalance"], summary["profile"], summary["seed"],
                      epochs=None if epochs == PROFILES[summary["profile"]].epochs else epochs)
    except ValueError:
        return "old setting"
    return "current" if config_hash(config) == now.config_hash else "old setting"


def load_results(results_dir="results") -> pd.DataFrame:
    """One row per stored run: identity, status, final and best accuracy, provenance, and whether its
    config is the registry's current setting (``setting``)."""
    rows = []
    for s in ResultsStore(results_dir).summaries():
        final, best, prov = s.get("final") or {}, s.get("best") or {}, s.get("provenance") or {}
        rows.append({
            "run_id": s["run_id"], "experiment": s["experiment"], "imbalance": s["imbalance"], "seed": s["seed"],
            "profile": s["profile"], "status": s["status"], "epochs_completed": s["epochs_completed"],
            "epochs": s["config"]["epochs"],
            "overall": final.get("overall"), "many": final.get("many"), "medium": final.get("medium"),
            "few": final.get("few"), "best_overall": best.get("overall"), "best_epoch": best.get("epoch"),
            "device": prov.get("device"), "wall_seconds": prov.get("wall_seconds"),
            "git_commit": prov.get("git_commit"), "setting": registry_setting(s),
        })
    columns = ["run_id", "experiment", "imbalance", "seed", "profile", "status", "epochs_completed", "epochs",
               "overall", "many", "medium", "few", "best_overall", "best_epoch", "device", "wall_seconds",
               "git_commit", "setting"]
    return pd.DataFrame(rows, columns=columns)
