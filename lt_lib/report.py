"""``python -m lt_lib report``: execute the numbered notebooks headless with papermill, in order.

Each notebook gets the parameters (profile, device, folders, seeds, ...) injected after its cell
tagged ``parameters``; the executed copy goes to ``--out`` (git-ignored ``out/`` by default). A failing
notebook does not stop the others; the summary names the cell it failed at, numbered as in the
executed copy (whose cell 2 is papermill's injected parameters).
"""
from __future__ import annotations

import time
from pathlib import Path

from .errors import LtError
from .notebook import project_root


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


def run_report(profile: str | None = None, notebooks=None, device: str = "auto", out=None, seeds=(0,),
               train_missing: bool = True, retrain: bool = False, results_dir=None, figures_dir=None,
               data_root=None, runs_dir=None, progress: bool = True, notebooks_dir=None) -> list[dict]:
    """Execute the notebooks; returns [{notebook, status, seconds, output, detail}] and prints a summary."""
    import papermill as pm

    root = project_root()
    paths = find_notebooks(Path(notebooks_dir) if notebooks_dir else root / "notebooks", notebooks)
    out = Path(out) if out else root / "out" / (profile or "default")
    out.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "device": device, "seeds": list(seeds), "train_missing": train_missing,
              "retrain": retrain}
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
        outcomes.append({"notebook": path.stem, "status": status, "seconds": time.perf_counter() - t0,
                         "output": str(target), "detail": detail})
    for o in outcomes:
        print(f"{o['notebook']:<28} {o['status']:<6} {o['seconds']:7.1f} s  {o['detail'] or o['output']}")
    return outcomes
