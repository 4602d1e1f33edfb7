"""The committed notebooks' "What we saw" agree with the store they sum up: every run a conclusion names
has the accuracy it states, and every "N points above / below" has the sign and size of the numbers beside
it. (nbval compares code outputs marked NBVAL_CHECK_OUTPUT only; a conclusion left stale after a new run
is committed fails here.)"""
import json
import re

import pytest
from conftest import ROOT

from lt_lib.runs.results import load_results

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN = re.compile(r"(?P<exp>[a-z][\w.-]*) at ratio (?P<ratio>\d+) \((?P<profile>quick|full), \d+ epochs"
                 r"(?P<old>, old setting)?\)(?::| ends at) (?:best epoch (?P<best>\d+\.\d+)%, final "
                 r"(?P<final>\d+\.\d+)%|(?P<overall>\d+\.\d+)%)")
VERSUS = re.compile(r"our (?P<which>best|final) epoch is (?P<n>\d+\.\d+) points (?P<dir>above|below) the "
                    r"published (?P<published>\d+\.\d+)%")
NO_EXIT = re.compile(r"the same weights give (?P<deep>\d+\.\d+)%; with its exits it ends (?:(?P<n>\d+\.\d+) points "
                     r"(?P<dir>above|below)|level with) that")


def conclusions(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown")
            text = "".join(text) if isinstance(text, list) else text
            if text and text.startswith("### What we saw"):
                yield from (p for p in text.split("\n\n")[1:] if p.strip())


@pytest.fixture(scope="module")
def store():
    return load_results(ROOT / "results")


def stored_run(store, exp, ratio, profile, old):
    rows = store[(store.experiment == exp) & (store.imbalance == float(ratio)) & (store.profile == profile)
                 & ((store.setting == "old setting") if old else (store.setting != "old setting"))]
    assert len(rows) == 1, f"{exp} at {ratio} ({profile}{', old' if old else ''}): {len(rows)} stored runs"
    return rows.iloc[0]


def signed(match):
    return float(match["n"]) * (1 if match["dir"] == "above" else -1)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_conclusion_states_what_the_store_holds(path, store):
    checked = 0
    for paragraph in conclusions(path):
        for sentence in re.split(r"(?<=\.) (?=[A-Z])", paragraph):
            run = RUN.search(sentence)
            if run is None:
                continue
            row = stored_run(store, run["exp"], run["ratio"], run["profile"], bool(run["old"]))
            final = float(run["final"] or run["overall"])
            assert final == pytest.approx(row["overall"], abs=0.005), sentence
            if run["best"]:
                assert float(run["best"]) == pytest.approx(row["best_overall"], abs=0.005), sentence
            checked += 1
            versus = VERSUS.search(sentence)
            if versus:  # "our best epoch is 4.69 points below the published 70.36%": sign and size
                ours = row["best_overall"] if versus["which"] == "best" else row["overall"]
                assert signed(versus) == pytest.approx(ours - float(versus["published"]), abs=0.01), sentence
            deep = NO_EXIT.search(paragraph)
            if deep and deep["n"]:  # "with its exits it ends 25.30 points above that"
                assert signed(deep) == pytest.approx(final - float(deep["deep"]), abs=0.01), paragraph
    if path.stem[:2] in ("01", "02", "04", "05", "06", "07", "08"):
        assert checked > 0, f"{path.name}: no run stated in its conclusion"


WITHIN = re.compile(r"In our (?P<profile>quick|full) runs, .*? from (?P<a>\d+\.\d+)% to (?P<b>\d+\.\d+)%"
                    r"(?: \((?P<n>\d+\.\d+) points (?P<dir>above|below))?")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_change_is_stated_within_one_profile(path, store):
    """'In our quick runs, X moves ... from A% to B% (N points below ...)': A and B are accuracies of
    stored runs of that profile, and N is B - A. A change is never stated across two schedules: no
    sentence says a setting moves a number and, in the same breath, that the two are not comparable."""
    for paragraph in conclusions(path):
        for sentence in re.split(r"(?<=\.) (?=[A-Z])", paragraph):
            assert not (re.search(r"from \d+\.\d+% to \d+\.\d+%", sentence) and "not comparable" in sentence), sentence
            m = WITHIN.search(sentence)
            if m is None:
                continue
            runs = store[(store.profile == m["profile"]) & store.status.isin(["completed", "diverged"])]
            values = {round(float(v), 2) for k in ("overall", "many", "medium", "few") for v in runs[k].dropna()}
            assert {float(m["a"]), float(m["b"])} <= values, sentence
            if m["n"]:
                assert signed(m) == pytest.approx(float(m["b"]) - float(m["a"]), abs=0.01), sentence
