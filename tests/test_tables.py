"""The README's tables are generated from the store: the committed README holds exactly what the store
gives (so no number there drifts from its run), and the generator puts each run in its row."""
from conftest import ROOT
from lt_lib.course.tables import device_label, readme_with_tables


def test_the_readme_tables_are_what_the_store_gives():
    assert (ROOT / "README.md").read_text() == readme_with_tables(ROOT / "README.md", ROOT / "results"), \
        "the README's tables are stale: python -m lt_lib readme"


def test_device_labels_say_where_and_how_a_run_trained():
    assert device_label({"device": "cuda:NVIDIA H200", "engine": {"graph": True}}) == "H200, graphs"
    assert device_label({"device": "cpu:AMD EPYC x1 threads", "engine": {"precision": "bf16", "channels_last": True}}) \
        == "AMD EPYC, 1 thread, bf16 channels_last"
    assert device_label({"device": "cpu:Intel Xeon x2 threads"}) == "Intel Xeon, 2 threads, fp32"
