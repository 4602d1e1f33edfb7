"""The results store: ``results/<run_id>/summary.json`` (+ ``history.csv``), written atomically.

summary.json is the contract other tools read. Keys: experiment, imbalance, seed, profile, status
("completed" | "diverged"), epochs_completed, final {overall, many, medium, few, per_class[10]}
(percent), best {overall, epoch}, divergence (null or {epoch, reason}), config (every setting),
config_hash, run_id, data {source, counts, train_images}, provenance {git_commit, git_dirty, torch,
device, started_at, finished_at, wall_seconds, train_images_per_second, resumed_at_epochs}.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

from ..errors import LtError

try:
    import fcntl
except ImportError:  # not on Windows: runs are then not locked
    fcntl = None

SUMMARY = "summary.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.npz"
LOCK = ".lock"
PREDICTIONS_LIMIT = 2**20  # bytes: a run's stored test outputs stay under 1 MiB


def _file_mode() -> int:
    """The mode a plain ``open(path, "w")`` gives a new file here (0644 under the usual umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write(path: Path, write) -> None:
    """``write(tmp_path)`` to a uniquely named temporary file beside ``path``, then rename it over
    ``path`` in one step: a reader sees the old file or the new one, never half of one, and two
    writers never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; a stored file reads as any file the user writes
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def damaged(path: Path, exc: BaseException, fix: str) -> LtError:
    """The one-line error for a file that exists but cannot be read."""
    text = str(exc).splitlines()[0][:100] if str(exc) else ""
    return LtError(f"{path} is damaged ({type(exc).__name__}{': ' + text if text else ''}); {fix}")


def ensure_writable(folder: Path, what: str, flag: str) -> None:
    """Fail at once, with one line, when ``folder`` cannot take a new file. Nothing is left behind: a
    folder that does not exist yet is not made; the nearest existing one above it must be writable."""
    folder = Path(folder)
    probe_in = folder
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    try:
        if not probe_in.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        fd, probe = tempfile.mkstemp(dir=probe_in, prefix=".write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LtError(f"cannot write {what} to {folder} ({exc.strerror or type(exc).__name__}); make it writable "
                      f"or choose another folder with {flag}") from None


@contextlib.contextmanager
def run_lock(folder: Path, run_id: str):
    """Hold the lock of one run id (a ``.lock`` file in its runs folder) while it trains: a second
    process asking for the same run stops at once with one line naming the holder. The lock goes
    with the process (flock), so a killed run never leaves a stale one."""
    path = Path(folder) / run_id / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                raise LtError(f"{run_id} is being trained by {holder} (lock {path}); wait for it to finish, "
                              "or stop it and resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


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


def project_root(start=None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding lt_lib/ and
    notebooks/; the working directory when there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "lt_lib").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return here


def run_folders(profile: str | None = None, results_dir=None, runs_dir=None) -> tuple[Path, Path]:
    """(results, runs) folders of a command: the flags where given; else the project's results/ and
    runs/, or out/smoke/results and out/smoke/runs for the smoke profile (synthetic data never lands in
    the store). Checkpoints and weights go beside a redirected results folder (``X/../runs``)."""
    root = project_root()
    base = root / "out" / "smoke" if profile == "smoke" else root
    results = Path(results_dir) if results_dir is not None else base / "results"
    runs = Path(runs_dir) if runs_dir is not None else (results.parent / "runs" if results_dir is not None
                                                        else base / "runs")
    return results, runs


class ResultsStore:
    """A folder of runs, one sub-folder per run id."""

    def __init__(self, root="results"):
        self.root = Path(root)

    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def _fix(self, run_id: str) -> str:
        return f"restore it (git checkout -- {self.path(run_id)}) or delete {self.path(run_id)} to train the run again"

    def read(self, run_id: str) -> dict | None:
        p = self.path(run_id) / SUMMARY
        if not p.is_file():
            return None
        try:
            summary = json.loads(p.read_text())
            for key in ("run_id", "experiment", "imbalance", "seed", "profile", "status", "config"):
                summary[key]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise damaged(p, exc if not isinstance(exc, (KeyError, TypeError)) else ValueError(f"no key {exc}"),
                          self._fix(run_id)) from None
        return summary

    def history(self, run_id: str) -> pd.DataFrame:
        p = self.path(run_id) / HISTORY
        if not p.is_file():
            return pd.DataFrame()
        try:
            frame = pd.read_csv(p)
            if "epoch" not in frame.columns:
                raise ValueError("no epoch column")
            return frame
        except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise damaged(p, exc, self._fix(run_id)) from None

    def keep_old_setting(self, run_id: str, config: dict) -> Path | None:
        """Before a run of the registry's current setting is written where a run of an older setting
        of the same entry is stored: move the old one to ``<run_id>@<its hash>`` (it stays readable and
        shown as "old setting"); returns where it went, or None when there was nothing to move."""
        from ..learn.experiments import config_hash

        old = self.read(run_id)
        if old is None or config_hash(old["config"]) == config_hash(config):
            return None
        new = {**old, "config": config}
        if registry_setting(old) != "old setting" or registry_setting(new) != "current":
            return None
        target = self.root / f"{run_id}@{config_hash(old['config'])}"
        if target.exists():
            raise LtError(f"{target} exists already; move it away to keep {self.path(run_id)}")
        os.replace(self.path(run_id), target)
        return target

    def stored_hash(self, run_id: str) -> str | None:
        """The config hash of a stored run, recomputed from its recorded config."""
        from ..learn.experiments import config_hash

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
        frame = pd.DataFrame(history) if history else pd.DataFrame(columns=["epoch"])  # readable when empty
        atomic_write_text(folder / HISTORY, frame.to_csv(index=False))
        atomic_write_text(folder / SUMMARY, json.dumps(summary, indent=2) + "\n")
        return folder / SUMMARY

    def write_predictions(self, run_id: str, predictions: dict) -> Path:
        """``<run>/predictions.npz``, compressed: every exit's test logits as float16 (K, N, C), its
        predictions (K, N) and the exit each image takes under the run's inference rule (N,), and the
        labels (N,): enough for threshold sweeps, confusion matrices, per-class accuracy and calibration
        without the weights (logits beyond float16's +-65504, as a diverged run's, are clipped to it). Refuses (one line) what would pass ``PREDICTIONS_LIMIT``."""
        import numpy as np

        limit = float(np.finfo(np.float16).max)  # a diverged run's logits can pass float16's range: clipped
        arrays = {"logits": np.clip(np.asarray(predictions["logits"], dtype=np.float32), -limit, limit).astype(np.float16),
                  "predictions": np.asarray(predictions["predictions"], dtype=np.int8),
                  "exit": np.asarray(predictions["exit"], dtype=np.int8),
                  "labels": np.asarray(predictions["labels"], dtype=np.int8)}
        path = self.path(run_id) / PREDICTIONS

        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
            if os.path.getsize(tmp) > PREDICTIONS_LIMIT:
                raise LtError(f"{run_id}: its predictions would take {os.path.getsize(tmp) / 2**20:.2f} MiB, more "
                              f"than {PREDICTIONS_LIMIT / 2**20:.0f} MiB")

        atomic_write(path, write)
        return path

    def predictions(self, run_id: str) -> dict | None:
        """A stored run's test outputs (``write_predictions``) as numpy arrays (logits as float32), or None
        when the run has none."""
        import numpy as np

        path = self.path(run_id) / PREDICTIONS
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in ("logits", "predictions", "exit", "labels")}
            out["logits"] = out["logits"].astype(np.float32)
            k, n, c = out["logits"].shape
            if out["predictions"].shape != (k, n) or out["exit"].shape != (n,) or out["labels"].shape != (n,):
                raise ValueError("arrays of mismatched shapes")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise damaged(path, exc, f"delete it and make it again from the run's weights: python -m lt_lib "
                                     f"predict {run_id}") from None
        return out

    def summaries(self, problems: list | None = None) -> list[dict]:
        """Every readable stored summary. A damaged one is left out and its one-line error appended to
        ``problems`` (or, when no list is given, printed to stderr once per file and process): one bad
        file never hides the rest, and a notebook that reads the store ten times says it once."""
        if not self.root.is_dir():
            return []
        found = []
        for p in sorted(self.root.glob(f"*/{SUMMARY}")):
            try:
                found.append({**self.read(p.parent.name), "_folder": p.parent.name})
            except LtError as exc:
                if problems is not None:
                    problems.append(str(exc))
                else:
                    warn_once(str(exc))
        return found

    def damaged(self) -> list[str]:
        """One line per stored run whose summary.json or history.csv cannot be read (what ``report``
        checks before it renders anything)."""
        problems: list[str] = []
        readable = self.summaries(problems)
        for s in readable:
            try:
                self.history(s["_folder"])
            except LtError as exc:
                problems.append(str(exc))
        return problems


_WARNED: set = set()


def warn_once(line: str) -> None:
    """Print ``warning: <line>`` to stderr, once per process."""
    if line not in _WARNED:
        _WARNED.add(line)
        print(f"warning: {line}", file=sys.stderr)

RUN_FOLDER = re.compile(r"^(?P<experiment>.+)-ir(?P<imbalance>[0-9.]+)-s(?P<seed>[0-9]+)-(?P<profile>[a-z]+)"
                        r"(?:-e(?P<epochs>[0-9]+))?(?:@(?P<hash>[0-9a-f]+))?$")


def registry_setting(summary: dict) -> str:
    """``current`` when a stored run's config is what the registry gives for it today, ``old setting``
    when the registry's entry has changed since (the run stays readable and is shown labelled), or
    ``not in the registry``."""
    from ..learn.experiments import EXPERIMENTS, PROFILES, config_hash, resolve

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


def setting_hash(config: dict) -> str:
    """The hash of a run's setting: its config without the seed, so that the seeds of one setting share
    it and runs of different settings never do."""
    from ..learn.experiments import config_hash

    return config_hash({k: v for k, v in config.items() if k != "seed"})


def load_results(results_dir="results", damaged: bool | None = None) -> pd.DataFrame:
    """One row per stored run: identity, status, final and best accuracy, provenance, whether its
    config is the registry's current setting (``setting``) and the hash of that setting (``setting_hash``,
    the config without the seed). ``damaged``: a run whose summary cannot be read is a row too, with
    status "damaged" and what its folder name tells (``report --skip-damaged`` shows it so; None reads
    ``$LT_SHOW_DAMAGED``); otherwise it is left out with one warning."""
    if damaged is None:
        damaged = os.environ.get("LT_SHOW_DAMAGED", "0") == "1"
    rows, problems = [], []
    store = ResultsStore(results_dir)
    for s in store.summaries(problems if damaged else None):
        final, best, prov = s.get("final") or {}, s.get("best") or {}, s.get("provenance") or {}
        rows.append({
            "run_id": s["run_id"], "folder": s["_folder"], "experiment": s["experiment"], "imbalance": s["imbalance"],
            "seed": s["seed"],
            "profile": s["profile"], "status": s["status"], "epochs_completed": s["epochs_completed"],
            "epochs": s["config"]["epochs"],
            "overall": final.get("overall"), "many": final.get("many"), "medium": final.get("medium"),
            "few": final.get("few"), "best_overall": best.get("overall"), "best_epoch": best.get("epoch"),
            "device": prov.get("device"), "wall_seconds": prov.get("wall_seconds"),
            "git_commit": prov.get("git_commit"), "setting": registry_setting(s),
            "setting_hash": setting_hash(s["config"]),
        })
    for line in problems:
        folder = Path(line.split(" is damaged", 1)[0]).parent.name
        m = RUN_FOLDER.match(folder)
        if m is None:
            continue
        warn_once(line)
        rows.append({"run_id": folder.split("@")[0], "folder": folder, "experiment": m["experiment"],
                     "imbalance": float(m["imbalance"]), "seed": int(m["seed"]), "profile": m["profile"],
                     "status": "damaged", "epochs": int(m["epochs"]) if m["epochs"] else None,
                     "setting": "old setting" if m["hash"] else "current", "setting_hash": m["hash"] or ""})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


RESULT_COLUMNS = ["run_id", "folder", "experiment", "imbalance", "seed", "profile", "status", "epochs_completed",
                  "epochs", "overall", "many", "medium", "few", "best_overall", "best_epoch", "device", "wall_seconds",
                  "git_commit", "setting", "setting_hash"]
