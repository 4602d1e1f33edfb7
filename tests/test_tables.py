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
