"""Statistics over seeds, the published numbers, the report's plan and the one-factor variants."""
import json
import math
import re

import nbformat
import pandas as pd
import pytest

from lt_lib.course.notebook import Notebook, project_root
from lt_lib.course.report import run_report
from lt_lib.learn.experiments import (
    EXPERIMENTS,
    GAP_VARIANTS,
    HEADLINE,
    NOTEBOOK_RUNS,
    resolve,
)
from lt_lib.learn.reference import PAPER_BASELINES, REFERENCE, lookup, paper_overall
from lt_lib.runs.results import ResultsStore
from lt_lib.runs.stats import aggregate, mean_std, rounded, write_summary_csv


def stored(store, experiment, ratio, seed, profile, overall, status="completed"):
    cfg = resolve(experiment, ratio, profile, seed)
    summary = {"run_id": cfg.run_id, "experiment": experiment, "imbalance": float(ratio), "seed": seed,
               "profile": profile, "status": status, "epochs_completed": cfg.epochs,
               "final": {"overall": overall, "many": overall + 10, "medium": overall, "few": overall - 10},
               "best": {"overall": overall + 1, "epoch": 3}, "config": cfg.to_dict(), "config_hash": cfg.config_hash,
               "provenance": {"device": "cpu:test", "wall_seconds": 1.0}}
    store.write(summary, [])
    return cfg


@pytest.fixture
def hand_made(tmp_path):
    """ce at ratio 100: three quick seeds (70, 72, 77) and one full seed (80); reslt-a0.9: one quick seed."""
    store = ResultsStore(tmp_path / "results")
    for seed, overall in ((0, 70.0), (1, 72.0), (2, 77.0)):
        stored(store, "ce", 100, seed, "quick", overall)
    stored(store, "ce", 100, 0, "full", 80.0)
    stored(store, "reslt-a0.9", 100, 0, "quick", 50.0)
    return tmp_path / "results"


def test_mean_std_and_n_per_experiment_ratio_and_profile(hand_made):
    from lt_lib.runs.results import load_results

    table = aggregate(load_results(hand_made)).set_index(["experiment", "profile"])
    ce = table.loc[("ce", "quick")]
    assert ce["n"] == 3 and ce["seeds"] == "0 1 2"
    assert ce["overall_mean"] == pytest.approx(73.0)
    assert ce["overall_std"] == pytest.approx(math.sqrt(((70 - 73) ** 2 + (72 - 73) ** 2 + (77 - 73) ** 2) / 2))
    assert ce["many_mean"] == pytest.approx(83.0) and ce["best_overall_mean"] == pytest.approx(74.0)
    full = table.loc[("ce", "full")]  # never pooled with the quick runs
    assert full["n"] == 1 and full["overall_mean"] == 80.0 and math.isnan(full["overall_std"])
    assert mean_std(73.0, ce["overall_std"], 3) == "73.00 ± 3.61 (n=3)"
    assert mean_std(80.0, math.nan, 1) == "80.00 (n=1)"  # one seed: no made-up spread
    assert mean_std(math.nan, math.nan, 0) == "not run yet"


def test_runs_not_finished_are_not_counted():
    runs = pd.DataFrame([
        {"experiment": "ce", "imbalance": 100.0, "profile": "quick", "seed": 0, "status": "completed",
         "overall": 60.0, "many": 1.0, "medium": 1.0, "few": 1.0, "best_overall": 61.0},
        {"experiment": "ce", "imbalance": 100.0, "profile": "quick", "seed": 1, "status": "not run yet",
         "overall": None, "many": None, "medium": None, "few": None, "best_overall": None}])
    row = aggregate(runs).iloc[0]
    assert row["n"] == 1 and row["overall_mean"] == 60.0 and math.isnan(row["overall_std"])
    assert aggregate(runs.iloc[1:]).empty


def test_summary_csv_has_one_row_per_experiment_ratio_profile(hand_made):
    write_summary_csv(hand_made)
    csv = pd.read_csv(hand_made / "summary.csv")
    assert list(csv.columns[:9]) == ["experiment", "imbalance", "profile", "setting", "n", "seeds", "mean", "std",
                                     "best_epoch_mean"]
    assert len(csv) == 3
    quick = csv[(csv.experiment == "ce") & (csv.profile == "quick")].iloc[0]
    assert (quick["n"], quick["mean"], quick["std"]) == (3, 73.0, 3.61)
    assert ResultsStore(hand_made).summaries()[0]["run_id"]  # the csv does not disturb the store


def test_tables_round_as_the_sentences_and_the_readme_print(tmp_path):
    """58.175 is stored just below itself and 70.825 just above (few-shot accuracies of 4 classes of
    1000 images): printed with two decimals they read 58.17 and 70.83, and so must every table.
    numpy's rounding (pandas' ``round``) gives 58.18 and 70.82."""
    assert (f"{58.175:.2f}", f"{70.825:.2f}") == ("58.17", "70.83")
    table = pd.DataFrame({"few": [58.175, 70.825, math.nan], "n": [1, 2, 3], "name": ["a", "b", "c"]})
    out = rounded(table)
    assert out["few"].tolist()[:2] == [58.17, 70.83] and math.isnan(out["few"].iloc[2])
    assert out["n"].tolist() == [1, 2, 3] and out["name"].tolist() == ["a", "b", "c"]
    assert table["few"].tolist()[:2] == [58.175, 70.825]  # the input is left as it was
    # the store's summary.csv and a notebook's comparison table say what the README row says
    store = ResultsStore(tmp_path / "results")
    cfg = stored(store, "ce", 50, 0, "full", 71.56)
    summary = store.read(cfg.run_id)
    summary["final"]["few"] = 58.175
    (tmp_path / "results" / cfg.run_id / "summary.json").write_text(json.dumps(summary))
    write_summary_csv(tmp_path / "results")
    csv = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert csv["few_mean"].tolist() == [58.17]
    nb = Notebook(profile="auto", device="cpu", data_root=tmp_path, results_dir=tmp_path / "results",
                  figures_dir=tmp_path, runs_dir=tmp_path, seeds=(0,), retrain=False, train_missing=False)
    assert nb.compare(nb.runs(["ce"], [50], train=False), against=())["few"].tolist() == [58.17]


def test_old_settings_are_never_pooled_and_a_seed_counts_once(hand_made):
    """ce quick seed 0 is stored twice more under two older settings (folders run_id@hash): the csv keeps
    the current setting's three seeds (n = 3) and gives each older setting its own labelled row; smoke
    runs never enter it. A notebook's table shows the current setting alone."""

    from lt_lib.learn.experiments import config_hash

    for lr, overall in ((0.05, 10.0), (0.2, 20.0)):
        cfg = resolve("ce", 100, "quick", 0)
        config = {**cfg.to_dict(), "lr": lr}
        folder = hand_made / f"{cfg.run_id}@{config_hash(config)}"
        folder.mkdir()
        summary = {**ResultsStore(hand_made).read(cfg.run_id), "config": config,
                   "final": {"overall": overall, "many": 0.0, "medium": 0.0, "few": 0.0}}
        (folder / "summary.json").write_text(json.dumps(summary))
    stored(ResultsStore(hand_made), "ce", 100, 0, "smoke", 99.0)
    write_summary_csv(hand_made)
    csv = pd.read_csv(hand_made / "summary.csv")
    ce = csv[(csv.experiment == "ce") & (csv.profile == "quick")].set_index("mean")
    assert sorted(ce.index) == [10.0, 20.0, 73.0]
    assert ce.loc[73.0, "setting"] == "current" and ce.loc[73.0, "n"] == 3 and ce.loc[73.0, "seeds"] == "0 1 2"
    assert (ce.loc[[10.0, 20.0], "setting"] == "old setting").all() and (ce.loc[[10.0, 20.0], "n"] == 1).all()
    assert "smoke" not in set(csv.profile)
    twice = pd.DataFrame([{"experiment": "ce", "imbalance": 100.0, "profile": "quick", "seed": 0, "status": "completed",
                           "overall": v, "many": v, "medium": v, "few": v, "best_overall": v, "setting": "current",
                           "setting_hash": "h"} for v in (60.0, 62.0)])
    row = aggregate(twice).iloc[0]
    assert row["n"] == 1 and row["overall_mean"] == 60.0 and math.isnan(row["overall_std"])
    nb = Notebook(profile="quick", device="cpu", data_root=hand_made, results_dir=hand_made, figures_dir=hand_made,
                  runs_dir=hand_made, seeds=(0, 1, 2), retrain=False, train_missing=False)
    assert nb.compare(nb.runs(["ce"], ratios=[100], train=False)).iloc[0]["ours (final epoch)"] == "73.00 ± 3.61 (n=3)"


def test_compare_pools_seeds_and_shows_partial_sets(hand_made):
    nb = Notebook(profile="quick", device="cpu", data_root=hand_made, results_dir=hand_made, figures_dir=hand_made,
                  runs_dir=hand_made, seeds=(0, 1, 2), retrain=False, train_missing=False)
    table = nb.compare(nb.runs(["ce", "reslt-a0.9"], ratios=[100], train=False)).set_index("experiment")
    assert table.loc["ce", "ours (final epoch)"] == "73.00 ± 3.61 (n=3)"  # a spread only from two seeds on
    assert table.loc["reslt-a0.9", "status"] == "completed (1 of 3 seeds)"
    assert table.loc["reslt-a0.9", "ours (final epoch)"] == 50.0
    assert table.loc["reslt-a0.9", "ours - report"] == pytest.approx(50.0 - 72.0)


def test_reference_numbers_and_their_lookup():
    assert lookup("report", "reslt-a0.95-aa-ls", 50, "few") == 87.4
    assert [lookup("paper", "reslt", r) for r in (100, 50, 10)] == [80.44, 83.46, 89.06]
    assert [lookup("paper", "reslt-strong-aug", r) for r in (100, 50, 10)] == [82.40, 85.17, 89.70]
    assert [lookup("paper", "elf", r) for r in (100, 50, 10)] == [78.10, 82.40, 88.00]
    assert [lookup("report", "elf-ldam-drw", r) for r in (100, 50, 10)] == [72.29, 76.74, 82.67]
    assert lookup("paper", "ldam", 50) is None and lookup("paper", "ldam-drw", 100) == 77.03
    assert lookup("report", "model4", 100) is None  # crashed: no number
    assert lookup("report", "model16", 10, "many") == 90.27 and lookup("report", "nothing", 100) is None
    assert paper_overall("model7", 100) == 80.44 and paper_overall("elf-ldam-drw", 10) == 88.0
    assert set(PAPER_BASELINES) <= set(REFERENCE.experiment)
    assert REFERENCE.source.str.match(r"seed 00\d|Cao et al. 2019|He et al. 2016").all()


def test_gap_variants_move_exactly_one_setting_to_the_reports():
    paper, report = resolve("reslt-paper", 100).to_dict(), resolve("reslt-a0.95-aa-ls", 100).to_dict()
    moved = set()
    for name in GAP_VARIANTS:
        variant = resolve(name, 100).to_dict()
        changed = {k for k in variant if k != "experiment" and variant[k] != paper[k]}
        assert changed and all(variant[k] == report[k] for k in changed), name
        moved |= changed
    # together they cover every setting in which the two differ
    assert moved == {k for k in paper if k != "experiment" and paper[k] != report[k]}


def test_notebook_runs_match_the_notebooks():
    """What report --train trains for a notebook is what the notebook shows: its nb.runs calls (lists
    written out, or named in the same notebook; a profile= after the ratios) and, for the calibration notebook, nb.calibration()."""
    from lt_lib.learn.reference import CALIBRATION, published

    call = re.compile(r"nb\.runs\((\[[^\]]*\]|[A-Z_0-9]+),\s*ratios=\[([^\]]*)\](?:,\s*profile=\w+)?\)")
    assign = re.compile(r"^([A-Z_0-9]+) = (\[[^\]]*\])", re.M)
    for path in sorted((project_root() / "notebooks").glob("0[0-9]_*.ipynb")):
        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        named = {name: value for name, value in assign.findall(source)}
        found = {(e.strip(' "\n'), float(r)) for names, ratios in call.findall(source)
                 for e in named.get(names, names).strip("[]").split(",") for r in ratios.split(",")}
        if "nb.calibration()" in source:
            found |= {(e, float(r)) for e in CALIBRATION for r in EXPERIMENTS[e].ratios if published(e, r)[0]}
        listed = {(e, float(r)) for e, ratios in NOTEBOOK_RUNS.get(path.name[:2], ()) for r in ratios}
        assert found == listed, path.name
    assert set(HEADLINE) <= set(EXPERIMENTS)


def test_dry_run_lists_exactly_the_missing_runs_headline_first(tmp_path, capsys):
    store = ResultsStore(tmp_path / "results")
    stored(store, "model7", 100, 0, "smoke", 30.0)
    outcomes = run_report("smoke", ["06"], device="cpu", seeds=(0, 1), results_dir=tmp_path / "results",
                          out=tmp_path / "out", dry_run=True)
    assert outcomes == []
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("report: profile smoke, 1 notebook(s)") and lines[1].startswith("planning the missing")
    plan = lines.index(next(line for line in lines if line.startswith("3 run(s) to train, estimated")))
    assert "on cpu" in lines[plan] and len(lines) == plan + 4
    listed = [line.split()[0] for line in lines[plan + 1:]]
    # seed 0 first; within seed 1 the headline model7 before model4
    assert listed == ["model4-ir100-s0-smoke", "model7-ir100-s1-smoke", "model4-ir100-s1-smoke"]
    # nothing of them recorded here: measured now, saying under what load
    assert all("(measured now, load average" in line for line in lines[plan + 1:])
    assert not (tmp_path / "out").exists() and not (tmp_path / "results" / "model4-ir100-s0-smoke").exists()


def test_seeds_of_different_profiles_are_never_pooled(tmp_path):
    """auto, three seeds: seed 0 has a full run, seeds 1 and 2 quick ones: the table shows the full
    profile alone (n = 1), never a mean of a 200-epoch and two 30-epoch runs."""
    store = ResultsStore(tmp_path / "results")
    stored(store, "ce", 100, 0, "full", 80.0)
    stored(store, "ce", 100, 1, "quick", 60.0)
    stored(store, "ce", 100, 2, "quick", 62.0)
    nb = Notebook(profile="auto", device="cpu", data_root=tmp_path, results_dir=tmp_path / "results",
                  figures_dir=tmp_path, runs_dir=tmp_path, seeds=(0, 1, 2), retrain=False, train_missing=False)
    runs = nb.runs(["ce"], ratios=[100], train=False)
    assert runs["profile"].tolist() == ["full", "quick", "quick"]
    row = nb.compare(runs).iloc[0]
    assert row["ours (final epoch)"] == 80.0 and row["status"] == "completed (1 of 3 seeds)"


def test_a_comparison_against_one_run_is_made_within_one_profile(tmp_path):
    """reslt-paper has a full and a quick run, two of its variants quick ones only, one a full one: the
    profile where reslt-paper and the most variants have runs is quick, and runs(profile=) shows that
    profile alone (the full run of reslt-paper is not mixed with the variants' quick ones)."""
    store = ResultsStore(tmp_path / "results")
    stored(store, "reslt-paper", 100, 0, "full", 72.0)
    stored(store, "reslt-paper", 100, 0, "quick", 70.0)
    stored(store, "reslt-paper-a0.95", 100, 0, "quick", 65.0)
    stored(store, "reslt-paper-no-norm", 100, 0, "quick", 60.0)
    stored(store, "reslt-paper-wd2e-4", 100, 0, "full", 71.0)
    nb = Notebook(profile="auto", device="cpu", data_root=tmp_path, results_dir=tmp_path / "results",
                  figures_dir=tmp_path, runs_dir=tmp_path, seeds=(0,), retrain=False, train_missing=False)
    names = ["reslt-paper", "reslt-paper-a0.95", "reslt-paper-no-norm", "reslt-paper-wd2e-4"]
    assert nb.runs(names, train=False)["profile"].tolist() == ["full", "quick", "quick", "full"]
    assert nb.common_profile(names) == "quick"
    runs = nb.runs(names, train=False, profile="quick")
    assert runs["profile"].tolist() == ["quick"] * 4
    assert runs["overall"].tolist()[:3] == [70.0, 65.0, 60.0] and runs["status"].tolist()[3] == "not run yet"
    # a tie goes to the longer schedule; without reslt-paper's run a profile does not count
    stored(store, "reslt-paper-a0.95", 100, 0, "full", 66.0)
    assert nb.common_profile(names) == "full"
    assert nb.common_profile(["reslt-paper-split48", "reslt-paper-a0.95"]) == "full"
    assert nb.common_profile(["ce", "reslt-paper-no-norm"]) == "quick"


def test_one_plan_gets_one_estimate_in_the_dry_run_the_report_and_the_notebook(tmp_path, capsys):
    """The same missing run is estimated alike by the dry run, report's closing summary and the
    how-to-run box: from the recorded run of the same experiment on a CPU, never from a smoke run."""
    from lt_lib.course.report import _print_missing
    from lt_lib.runs.timing import default_precision, duration

    store = ResultsStore(tmp_path / "results")
    cfg = stored(store, "reslt-a0.95", 100, 0, "full", 70.0)
    summary = store.read(cfg.run_id)
    summary["data"] = {"train_images": 12406}
    summary["provenance"] = {"device": "cpu:Some CPU x1 threads", "wall_seconds": 200 * 12406 / 300 + 200 * 10.0,
                             "train_images_per_second": 300.0, "resumed_at_epochs": [],
                             "engine": {"precision": default_precision("cpu", "quick")}}  # this host's engine
    store.write(summary, [], force=True)
    smoke = stored(store, "reslt-a0.95", 100, 1, "smoke", 10.0)  # a smoke run, 100x faster: never the basis
    s = store.read(smoke.run_id)
    s["provenance"] = {**summary["provenance"], "train_images_per_second": 30000.0}
    s["config"]["source"] = "synthetic"
    store.write(s, [], force=True)
    quick = resolve("reslt-a0.95", 100, "quick")
    expected = quick.epochs * 12406 / 300 + (quick.epochs // 2) * 10.0  # 30 epochs, 15 evaluations

    run_report("quick", ["02"], device="cpu", results_dir=tmp_path / "results", out=tmp_path / "out", dry_run=True)
    dry = capsys.readouterr().out
    assert f"{quick.run_id:<44} ~{duration(expected):>8}  ({cfg.run_id})" in dry

    nb = Notebook(profile="quick", device="cpu", data_root=tmp_path, results_dir=tmp_path / "results",
                  figures_dir=tmp_path, runs_dir=tmp_path, seeds=(0,), retrain=False, train_missing=False)
    assert f"| `reslt-a0.95` ratio 100 | not measured yet | ~{duration(expected)} |" in nb.how_to_run(["reslt-a0.95"])
    _print_missing([project_root() / "notebooks" / "02_reslt_baseline.ipynb"], (0,), nb, __import__("torch").device("cpu"),
                   "quick")
    assert f"missing 1 quick-profile run(s); on a CPU about {duration(expected)}" in capsys.readouterr().out


def test_a_resumed_run_is_a_basis_only_when_every_stretch_trained_alike(tmp_path):
    """Speeds come from resumed runs too (most long CPU runs are resumed), but only where every stretch
    ran on the same device, engine and CPU: one thread then two, or fp32 then bf16, is a mix."""
    from lt_lib.runs.timing import one_kind, recorded

    bf16 = {"device": "cpu", "precision": "bf16", "channels_last": True}
    epyc = {"model": "AMD EPYC", "isa": ["avx512_bf16"]}

    def stretch(epoch, device="cpu:AMD EPYC x1 threads", engine=bf16, cpu=epyc):
        return {"from_epoch": epoch, "device": device, "engine": dict(engine), "cpu": cpu}

    alike = [stretch(0), stretch(30), stretch(80)]
    assert one_kind({"resumed_at_epochs": []}) and one_kind({"resumed_at_epochs": [30, 80], "segments": alike})
    assert not one_kind({"resumed_at_epochs": [16], "segments": [stretch(0), stretch(16, "cpu:AMD EPYC x2 threads")]})
    assert not one_kind({"resumed_at_epochs": [13], "segments": [stretch(0), stretch(13, engine={**bf16, "precision": "fp32"})]})
    assert not one_kind({"resumed_at_epochs": [9], "segments": [stretch(0, cpu={"model": "AMD EPYC", "isa": ["avx2"]}),
                                                                stretch(9)]})
    assert not one_kind({"resumed_at_epochs": [8]})  # resumed before stretches were recorded: cannot say

    store = ResultsStore(tmp_path / "results")
    for experiment, segments, ips in (("ce", alike, 360.0), ("ldam-drw", [stretch(0), stretch(16, "cpu:AMD EPYC x2 threads")], 500.0)):
        cfg = stored(store, experiment, 100, 0, "full", 70.0)
        summary = store.read(cfg.run_id)
        summary["data"] = {"train_images": 12406}
        summary["provenance"] = {"device": segments[-1]["device"], "train_images_per_second": ips,
                                 "wall_seconds": 200 * 12406 / ips + 200 * 9.0, "engine": bf16,
                                 "resumed_at_epochs": [s["from_epoch"] for s in segments[1:]], "segments": segments}
        store.write(summary, [], force=True)
    (speed,) = recorded([tmp_path / "results"])
    assert speed["run_id"] == "ce-ir100-s0-full" and speed["ips"] == 360.0 and speed["precision"] == "bf16"
    assert speed["eval_s"] == pytest.approx(9.0)


def test_the_phase6_table_marks_a_diverged_run(tmp_path):
    """A diverged run's accuracy is where the run stopped: the table says so beside its number."""
    store = ResultsStore(tmp_path / "results")
    stored(store, "model14", 100, 0, "full", 10.0, status="diverged")
    stored(store, "model7", 100, 0, "full", 69.83)
    stored(store, "model7", 100, 1, "full", 10.0, status="diverged")
    nb = Notebook(profile="auto", device="cpu", data_root=tmp_path, results_dir=tmp_path / "results",
                  figures_dir=tmp_path, runs_dir=tmp_path, seeds=(0, 1), retrain=False, train_missing=False)
    table = nb.phase6({"full power": {100: "model14"}, "routed": {100: "model7"}})
    assert table.loc["full power", "100: ours"] == "10.00 (full, diverged)"
    assert table.loc["routed", "100: ours"].endswith("(full, 1 of 2 diverged)")
    assert table.loc["full power", "100: gap"] == pytest.approx(10.0 - 78.94)
