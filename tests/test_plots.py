"""Figure helpers whose geometry can be checked: labels that never overlap, reference markers where the
sources give numbers, sweeps drawn only where they are curves."""
import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lt_lib.course import plots  # noqa: E402


def test_spread_keeps_labels_apart_and_inside_and_leaves_free_ones_alone():
    # two exits at 0% and one at 100%: the first two labels would sit on each other at 0
    ys = plots.spread([0.0, 0.0, 0.5], 0.08)
    assert ys == pytest.approx([0.0, 0.08, 0.5])
    assert plots.spread([0.2, 0.6], 0.08) == [0.2, 0.6]  # already apart
    top = plots.spread([1.0, 1.0, 1.0], 0.1)  # overflow at the top: shifted down, still apart
    assert top == pytest.approx([0.8, 0.9, 1.0])


def test_split_bars_mark_the_report_and_the_paper_where_they_have_numbers():
    df = pd.DataFrame([
        {"model": "reslt-a0.95-aa-ls @ 100", "experiment": "reslt-a0.95-aa-ls", "imbalance": 100.0,
         "overall": 39.08, "many": 40.0, "medium": 22.0, "few": 50.0},
        {"model": "no reference", "experiment": "reslt-paper-a0.95", "imbalance": 100.0,
         "overall": 71.0, "many": 85.0, "medium": 69.0, "few": 61.0}])
    fig = plots.split_bars(df, label="model")
    ax = fig.axes[0]
    report = [line for line in ax.lines if len(line.get_xdata()) == 2]
    # the report gives overall, many, medium and few for reslt-a0.95-aa-ls at 100 (75.33 overall)
    assert len(report) == 4 and report[0].get_ydata()[0] == pytest.approx(75.33)
    diamonds = [line for line in ax.lines if line.get_marker() == "D"]
    assert [d.get_ydata()[0] for d in diamonds] == [pytest.approx(80.44)]  # the ResLT paper at 100, the first group
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "report (final epoch)" in labels and "paper, overall (best epoch)" in labels


def test_alpha_sweep_joins_only_runs_of_one_profile():
    ours = pd.DataFrame([
        {"alpha": 0.9, "profile": "full", "overall": 67.9, "many": 81.0, "medium": 58.8, "few": 64.9},
        {"alpha": 0.95, "profile": "quick", "overall": 34.7, "many": 46.9, "medium": 16.4, "few": 39.2},
        {"alpha": 0.99, "profile": "quick", "overall": 28.5, "many": 13.3, "medium": 10.8, "few": 53.0}])
    ax = plots.alpha_sweep(ours).axes[0]
    lines = {line.get_label(): line for line in ax.lines}
    # no line runs from the full run at 0.9 to the quick runs: the full one stands alone, with its own marker
    assert list(lines["ours, full: overall"].get_xdata()) == pytest.approx([0.1])
    assert list(lines["ours, quick: overall"].get_xdata()) == pytest.approx([0.05, 0.01])
    assert lines["ours, full: few"].get_marker() != lines["ours, quick: few"].get_marker()
    one = plots.alpha_sweep(ours[ours.profile == "quick"]).axes[0]  # one profile: the plain labels
    assert [line.get_label() for line in one.lines][:1] == ["ours: overall"]


def test_accuracy_vs_flops_draws_a_sweep_only_with_three_distinct_costs():
    def summary(flops):
        return {"status": "completed", "final": {"overall": 50.0},
                "exits": {"flops_ratio": flops[0], "sweep": [{"flops_ratio": f, "overall": 40.0 + i}
                                                            for i, f in enumerate(flops)]}}
    fig = plots.accuracy_vs_flops({"two costs": summary([0.4, 0.4, 1.0]), "curve": summary([0.3, 0.5, 0.8, 1.0])})
    dashed = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and len(dashed[0].get_xdata()) == 4
    markers = {line.get_label(): line.get_marker() for line in fig.axes[0].lines if line.get_label()[0] != "_"}
    assert markers["two costs"] != markers["curve"]


def test_confidence_histograms_split_right_from_wrong_per_exit():
    import numpy as np

    # two exits, three images: exit 1 sure and right on image 0, sure and wrong on image 1
    logits = np.full((2, 3, 10), 0.0)
    logits[0, 0, 0] = logits[0, 1, 5] = 10.0
    logits[1, :, 0] = 1.0
    fig = plots.confidence_histograms({"logits": logits, "labels": np.array([0, 1, 2])}, threshold=0.5)
    first = fig.axes[0]
    right, wrong = [sum(patch.get_height() for patch in c) for c in first.containers]
    assert (right, wrong) == (1, 2)  # stacked: the wrong bars sit on the right ones
    assert [line.get_xdata()[0] for line in first.lines] == [0.5]
    assert len(fig.axes[1].lines) == 0  # no threshold at the final exit: every image left there answers
