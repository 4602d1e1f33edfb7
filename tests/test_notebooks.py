"""The notebook helpers and the headless report (the notebooks themselves run under nbval)."""
import nbformat
import pandas as pd
import pytest

from lt_lib.course.notebook import Notebook, setup
from lt_lib.course.report import find_notebooks, run_report
from lt_lib.errors import LtError


def notebook_at(base, **kw):
    return Notebook(profile="smoke", device="cpu", data_root=base / "data", results_dir=base / "results",
                    figures_dir=base / "figures", runs_dir=base / "runs", seeds=(0,), retrain=False,
                    train_missing=kw.get("train_missing", False))


def test_runs_load_stored_ones_and_mark_the_rest_not_run_yet(smoke_ce, capsys):
    cfg, summary, base = smoke_ce
    nb = notebook_at(base)
    runs = nb.runs(["ce", "reslt-a0.9"], ratios=[10])
    out = capsys.readouterr().out
    assert "1 smoke-profile run(s) not stored yet, not training (train_missing=False)" in out
    assert "reslt-a0.9-ir10-s0-smoke" in out and "CPU" in out and "GPU" in out  # the estimates per device
    assert runs["run_id"].tolist() == [cfg.run_id, "reslt-a0.9-ir10-s0-smoke"]
    assert runs["status"].tolist() == ["completed", "not run yet"]
    assert runs["overall"].iloc[0] == pytest.approx(summary["final"]["overall"])
    assert runs["shown as"].tolist() == ["smoke (plumbing only)", ""]
    table = nb.compare(runs)
    assert table["status"].tolist() == ["completed", "not run yet"]
    assert table["ours (final epoch)"].isna().tolist() == [False, True]


def test_auto_shows_the_full_run_where_stored_else_quick_and_labels_old_settings(tmp_path):
    """Run All's view: per run the best stored profile; an old-setting run is shown only where no
    current one exists, and says so."""
    import json

    from lt_lib.learn.experiments import resolve
    from lt_lib.runs.results import ResultsStore

    store = ResultsStore(tmp_path / "results")

    def put(experiment, profile, overall, **changed):
        cfg = resolve(experiment, 100, profile)
        config = {**cfg.to_dict(), **changed}
        from lt_lib.learn.experiments import config_hash
        folder = cfg.run_id + (f"@{config_hash(config)}" if changed else "")
        s = {"run_id": cfg.run_id, "experiment": experiment, "imbalance": 100.0, "seed": 0, "profile": profile,
             "status": "completed", "epochs_completed": cfg.epochs, "config": config,
             "final": {"overall": overall, "many": 1.0, "medium": 1.0, "few": 1.0, "per_class": [1.0] * 10},
             "best": {"overall": overall + 1, "epoch": 3}, "provenance": {"device": "cpu:x", "wall_seconds": 1}}
        (store.root / folder).mkdir(parents=True)
        (store.root / folder / "summary.json").write_text(json.dumps(s))

    put("ce", "quick", 60.0)
    put("ce", "full", 70.0)
    put("reslt-a0.9", "quick", 40.0)
    put("elf-ldam-drw", "quick", 63.0, exit_confidence="raw")        # old setting only
    put("reslt-a0.95", "quick", 35.0)
    put("reslt-a0.95", "full", 50.0, alpha=0.5)                      # full but old setting
    nb = Notebook(profile="auto", device="cpu", data_root=tmp_path, results_dir=tmp_path / "results",
                  figures_dir=tmp_path / "f", runs_dir=tmp_path / "k", seeds=(0,), retrain=False, train_missing=False)
    runs = nb.runs(["ce", "reslt-a0.9", "elf-ldam-drw", "reslt-a0.95", "model7"], ratios=[100], train=False)
    assert runs["overall"].tolist()[:4] == [70.0, 40.0, 63.0, 35.0]
    assert runs["shown as"].tolist() == ["full, 200 epochs", "quick, 30 epochs", "quick, 30 epochs",
                                         "quick, 30 epochs", ""]
    assert runs["setting"].tolist() == ["current", "current", "old setting", "current", ""]
    table = nb.compare(runs)
    assert table.loc[2, "status"] == "completed, old setting" and table.loc[4, "status"] == "not run yet"


def test_compare_puts_the_report_and_paper_next_to_ours_like_with_like():
    """The report's numbers are final epochs, the paper's best epochs: the gap to the paper is taken
    from our best epoch, the gap to the report from our final one."""
    import pandas as pd

    runs = pd.DataFrame([{"run_id": "x", "experiment": "reslt-a0.95-aa-ls", "imbalance": 100.0, "seed": 0,
                          "profile": "full", "status": "completed", "overall": 76.33, "many": 80.0,
                          "medium": 70.0, "few": 78.0, "best_overall": 77.0, "shown as": "full, 200 epochs"}])
    row = Notebook.compare(None, runs).iloc[0]
    assert (row["report (final epoch)"], row["paper (best epoch)"]) == (75.33, 80.44)
    assert row["ours - report"] == pytest.approx(1.0) and row["ours best - paper"] == pytest.approx(-3.44)
    assert row["report few"] == 83.1 and row["ours (best epoch, test-selected)"] == 77.0 and row["ratio"] == 100
    sweep = Notebook.compare(None, runs, against=("report",)).iloc[0]
    assert "paper (best epoch)" not in sweep and sweep["ours - report"] == pytest.approx(1.0)


def test_save_captions_a_figure_of_runs_with_their_profiles_and_a_diagram_not_at_all(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = notebook_at(tmp_path)
    diagram, _ = plt.subplots()
    nb.save(diagram, "00_diagram")
    assert (tmp_path / "figures" / "00_diagram.png").stat().st_size > 0 and diagram.texts == []
    curves, _ = plt.subplots()
    runs = pd.DataFrame({"shown as": ["quick, 30 epochs", "full, 200 epochs", ""], "setting": ["current"] * 3})
    nb.save(curves, "00_curves", runs)
    assert [t.get_text() for t in curves.texts] == [
        "runs shown: full, 200 epochs; quick, 30 epochs; quick runs are not reproductions"]


def test_folders_smoke_stays_in_out_and_runs_go_beside_redirected_results(monkeypatch, tmp_path):
    for var in ("LT_RESULTS", "LT_FIGURES", "LT_RUNS", "LT_PROFILE", "LT_TRAIN_MISSING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lt_lib").mkdir(), (tmp_path / "notebooks").mkdir()
    smoke = setup("smoke", quiet=True)
    assert smoke.results_dir == tmp_path / "out" / "smoke" / "results"
    assert smoke.figures_dir == tmp_path / "out" / "smoke" / "figures"
    assert smoke.runs_dir == tmp_path / "out" / "smoke" / "runs"
    default = setup(None, quiet=True)  # Run All: every stored run, nothing trained
    assert default.profile == "auto" and default.train_missing is False
    assert default.results_dir == tmp_path / "results" and default.runs_dir == tmp_path / "runs"
    elsewhere = setup("quick", results_dir=tmp_path / "x" / "results", quiet=True)
    assert elsewhere.runs_dir == tmp_path / "x" / "runs"  # never the project's runs/
    monkeypatch.setenv("LT_TRAIN_MISSING", "1")
    assert setup(None, quiet=True).train_missing is True
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
    outcomes = run_report("smoke", out=tmp_path / "out", notebooks_dir=folder, progress=False, site=False,
                          results_dir=tmp_path / "results")
    assert [o["status"] for o in outcomes] == ["ok", "failed", "ok"]
    # numbered as in the executed copy: parameters, injected parameters, x = 1, raise
    assert outcomes[1]["detail"].startswith("at cell In [4] of ") and outcomes[1]["detail"].endswith("(ValueError: boom)")
    executed = nbformat.read(tmp_path / "out" / "00_first.ipynb", as_version=4)
    assert any("profile is smoke" in o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    summary = [line for line in capsys.readouterr().out.splitlines() if line[:2].isdigit()]
    assert summary[1].startswith("01_broken") and "failed" in summary[1]
    assert [p.name for p in find_notebooks(folder, ["2", "00"])] == ["02_last.ipynb", "00_first.ipynb"]
    with pytest.raises(LtError, match="no notebook numbered 07"):
        find_notebooks(folder, ["07"])


def test_every_notebook_renders_in_the_smoke_profile_from_an_empty_store(tmp_path):
    """A fresh clone with nothing trained: every notebook runs to its end (tables say "not run yet",
    figures of missing runs are skipped with a line) and trains nothing."""
    outcomes = run_report("smoke", device="cpu", out=tmp_path / "out", results_dir=tmp_path / "results",
                          figures_dir=tmp_path / "figures", runs_dir=tmp_path / "runs", progress=False, html=False,
                          site=False)
    assert [o["status"] for o in outcomes] == ["ok"] * 10, [o["detail"] for o in outcomes if o["detail"]]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.pt"))
    executed = nbformat.read(tmp_path / "out" / "09_final_comparison.ipynb", as_version=4)
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                   for c in executed.cells for o in c.get("outputs", []))
    assert "not run yet" in text and "What we saw" in text
