"""The notebook helpers and the headless report (the notebooks themselves run under nbval)."""
import nbformat
import pytest

from lt_lib.errors import LtError
from lt_lib.notebook import Notebook, setup
from lt_lib.report import find_notebooks, run_report


def notebook_at(base, **kw):
    return Notebook(profile="smoke", device="cpu", data_root=base / "data", results_dir=base / "results",
                    figures_dir=base / "figures", runs_dir=base / "runs", seeds=(0,), retrain=False,
                    train_missing=kw.get("train_missing", False))


def test_runs_load_stored_ones_and_mark_the_rest_not_run_yet(smoke_ce, capsys):
    cfg, summary, base = smoke_ce
    nb = notebook_at(base)
    runs = nb.runs(["ce", "reslt-a0.9"], ratios=[10])
    out = capsys.readouterr().out
    assert "1 run(s) missing, not training (train_missing=False)" in out and "reslt-a0.9-ir10-s0-smoke" in out
    assert "~" in out and "min" in out  # the estimated time
    assert runs["run_id"].tolist() == [cfg.run_id, "reslt-a0.9-ir10-s0-smoke"]
    assert runs["status"].tolist() == ["completed", "not run yet"]
    assert runs["overall"].iloc[0] == pytest.approx(summary["final"]["overall"])
    table = nb.compare(runs)
    assert table["status"].tolist() == ["completed", "not run yet"]
    assert table["ours"].isna().tolist() == [False, True]


def test_compare_puts_the_report_and_paper_next_to_ours():
    import pandas as pd

    runs = pd.DataFrame([{"run_id": "x", "experiment": "reslt-a0.95-aa-ls", "imbalance": 100.0, "seed": 0,
                          "profile": "full", "status": "completed", "overall": 76.33, "many": 80.0,
                          "medium": 70.0, "few": 78.0, "best_overall": 77.0}])
    row = Notebook.compare(None, runs).iloc[0]
    assert (row["report"], row["paper"]) == (75.33, 80.44)
    assert row["ours - report"] == pytest.approx(1.0) and row["ours - paper"] == pytest.approx(-4.11)
    assert row["report few"] == 83.1 and row["best epoch (test-selected)"] == 77.0


def test_save_captions_the_figure_with_its_profile(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = notebook_at(tmp_path)
    fig, _ = plt.subplots()
    nb.save(fig, "00_test")
    path = tmp_path / "figures" / "00_test.png"
    assert path.stat().st_size > 0
    assert any(t.get_text().startswith("profile: smoke") for t in fig.texts)


def test_smoke_profile_never_defaults_to_the_projects_results(monkeypatch, tmp_path):
    for var in ("LT_RESULTS", "LT_FIGURES", "LT_RUNS", "LT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lt_lib").mkdir(), (tmp_path / "notebooks").mkdir()
    smoke = setup("smoke", quiet=True)
    assert smoke.results_dir == tmp_path / "out" / "smoke" / "results"
    assert smoke.figures_dir == tmp_path / "out" / "smoke" / "figures"
    full = setup(None, quiet=True)
    assert full.profile == "full" and full.results_dir == tmp_path / "results"
    with pytest.raises(LtError, match="unknown profile"):
        setup("medium", quiet=True)


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_report_runs_every_notebook_and_names_the_failing_cell(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "00_first.ipynb", "profile = None", "print('profile is', profile)")
    _notebook(folder / "01_broken.ipynb", "profile = None", "x = 1", "raise ValueError('boom')")
    _notebook(folder / "02_last.ipynb", "profile = None", "print('still ran')")
    outcomes = run_report("smoke", out=tmp_path / "out", notebooks_dir=folder, progress=False, train_missing=False)
    assert [o["status"] for o in outcomes] == ["ok", "failed", "ok"]
    # numbered as in the executed copy: parameters, injected parameters, x = 1, raise
    assert outcomes[1]["detail"].startswith("at cell In [4] of ") and outcomes[1]["detail"].endswith("(ValueError: boom)")
    executed = nbformat.read(tmp_path / "out" / "00_first.ipynb", as_version=4)
    assert any("profile is smoke" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    summary = capsys.readouterr().out.splitlines()
    assert summary[1].startswith("01_broken") and "failed" in summary[1]
    assert [p.name for p in find_notebooks(folder, ["2", "00"])] == ["02_last.ipynb", "00_first.ipynb"]
    with pytest.raises(LtError, match="no notebook numbered 07"):
        find_notebooks(folder, ["07"])
