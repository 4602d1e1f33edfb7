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


def test_the_engine_variants_table_reads_each_record(tmp_path):
    import json

    from lt_lib.course.tables import variants_markdown
    record = {"device": "cpu:AMD EPYC x1 threads", "git_commit": "188c23aea6",
              "cpu": {"isa": ["avx2", "avx512f", "avx512_bf16"]},
              "variants": {"fp32 contiguous": {"bound_images_per_s": 168.4, "gradient_error_vs_float64": 0.00092},
                           "fp32 channels_last": {"bound_images_per_s": 223.3},
                           "bf16 contiguous": {"bound_images_per_s": 313.2, "gradient_error_vs_float64": 0.177},
                           "bf16 channels_last": {"bound_images_per_s": 336.8}}}
    (tmp_path / "a.json").write_text(json.dumps(record))
    (tmp_path / "b.json").write_text(json.dumps({**record, "variants": {}}))  # no --variants: no row
    (tmp_path / "c.json").write_text(json.dumps({**record, "cpu": {"isa": ["avx2"]}}))
    rows = variants_markdown(tmp_path).splitlines()[2:]
    assert rows == [
        "| `a.json` | AMD EPYC (AVX512-BF16), x1 threads | 188c23a | 168 (9.2e-04) | 223 | 313 (1.8e-01) | 337 "
        "| bf16 channels_last, 2.00x |",
        "| `c.json` | AMD EPYC (no native bf16), x1 threads | 188c23a | 168 (9.2e-04) | 223 | 313 (1.8e-01) | 337 "
        "| bf16 channels_last, 2.00x |"]


def test_a_run_resumed_under_another_engine_or_device_names_each_stretch():
    def seg(start, device, precision, channels_last):
        return {"from_epoch": start, "device": device, "engine": {"precision": precision, "channels_last": channels_last}}

    epyc = "cpu:AMD EPYC x1 threads"
    same = [seg(0, epyc, "bf16", True), seg(10, epyc, "bf16", True)]  # resumed, nothing changed: one stretch
    assert device_label({"device": epyc, "engine": same[-1]["engine"], "segments": same}) == \
        "AMD EPYC, 1 thread, bf16 channels_last"
    mixed = [seg(0, epyc, "fp32", False), seg(8, epyc, "fp32", False), seg(12, epyc, "fp32", True),
             seg(40, "cpu:Intel Xeon x2 threads", "bf16", True)]
    assert device_label({"device": "cpu:Intel Xeon x2 threads", "engine": mixed[-1]["engine"], "segments": mixed}) == \
        "AMD EPYC, 1 thread, fp32; fp32 channels_last from epoch 13; Intel Xeon, 2 threads, bf16 channels_last from epoch 41"


def comparison_rows(path):
    """The rows of the tables of stored runs (``Notebook.compare``, ``calibration``, the exit tables) in a
    committed notebook's HTML outputs, each a dict of column -> cell text."""
    import json

    from bs4 import BeautifulSoup  # parses the tables' HTML; installed with Jupyter (nbconvert)

    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html")
            if not html:
                continue
            for table in BeautifulSoup("".join(html), "html.parser").find_all("table"):
                head = [th.get_text() for th in table.thead.find_all("th")] if table.thead else []
                accuracy = {"ours (final epoch)", "overall"} & set(head)
                if not ({"experiment", "ratio", "runs"} <= set(head) and accuracy):
                    continue
                for tr in table.tbody.find_all("tr"):
                    yield dict(zip(head, [c.get_text() for c in tr.find_all(["th", "td"])]))


def test_the_notebooks_tables_show_what_the_store_holds():
    """nbval runs with --nbval-lax, so a table cell left from an older render passes it: here every row of
    a committed notebook's table of stored runs that shows one run of the current setting prints that run's
    text as the README prints it (f"{x:.2f}": 68.40, where pandas' own format printed 68.4 in a column
    with no value needing a second digit). Notebook 05 kept 10.52 for model2's few-shot 10.525 (numpy's
    rounding) after the store and the README moved to 10.53."""
    import re

    from lt_lib.runs.results import load_results

    store = load_results(ROOT / "results")
    store = store[store.setting != "old setting"]
    columns = {"ours (final epoch)": "overall", "overall": "overall",
               "ours (best epoch, test-selected)": "best_overall", "many": "many", "medium": "medium", "few": "few"}
    checked = 0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for row in comparison_rows(path):
            shown = re.fullmatch(r"(quick|full|smoke), \d+ epochs", row["runs"])
            old = "old setting" in row.get("status", "") or row.get("setting") == "old setting"
            if not shown or old or "±" in row.get("ours (final epoch)", ""):
                continue  # not run yet, an older setting, or a mean over seeds
            run = store[(store.experiment == row["experiment"]) & (store.imbalance == float(row["ratio"]))
                        & (store.profile == shown[1])]
            assert len(run), f"{path.name}: {row['experiment']} at {row['ratio']} ({row['runs']}): no stored run"
            if len(run) > 1:
                continue  # several seeds: the table shows their mean
            for column, key in ((c, k) for c, k in columns.items() if c in row):
                assert row[column] == f"{run[key].iloc[0]:.2f}", (
                    f"{path.name}: {row['experiment']} at {row['ratio']} ({row['runs']}) shows {column} "
                    f"{row[column]}, the store {run[key].iloc[0]}: python -m lt_lib report --in-place")
            checked += 1
    assert checked >= 40
