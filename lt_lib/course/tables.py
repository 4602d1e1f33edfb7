"""The README's generated tables, from the results store and the benchmark records: ``python -m lt_lib
readme`` rewrites them in place (and nothing else), ``tests/test_tables.py`` holds the committed README
to them, so no number there can drift from its run."""
from __future__ import annotations

import json
import math
import re
from itertools import groupby
from pathlib import Path

from ..errors import LtError
from ..learn.reference import lookup, paper_overall
from ..runs.results import ResultsStore, registry_setting

RESULTS_MARK = "<!-- results table: generated from results/ -->"
BENCH_MARK = "<!-- bench table: generated from results/bench/ -->"
VARIANTS_MARK = "<!-- engine variants table: generated from results/bench/ -->"
VARIANTS = ("fp32 contiguous", "fp32 channels_last", "bf16 contiguous", "bf16 channels_last")
PROFILE_ORDER = {"full": 0, "quick": 1, "smoke": 2}


def _num(x, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _where_how(device: str, engine: dict) -> tuple[str, str]:
    kind, _, name = device.partition(":")
    if kind == "cuda":
        return name.replace("NVIDIA ", ""), "graphs" if engine.get("graph") else "eager"
    m = re.match(r"(.*) x(\d+) threads$", name)
    model, threads = (m.group(1), int(m.group(2))) if m else (name, None)
    where = f"{model or 'CPU'}" + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
    return where, f"{engine.get('precision', 'fp32')}{' channels_last' if engine.get('channels_last') else ''}"


def device_label(provenance: dict) -> str:
    """'H200, eager' / 'AMD EPYC, 1 thread, bf16 channels_last' from a run's provenance; a run resumed on
    another device or engine names each stretch: 'AMD EPYC, 1 thread, fp32; fp32 channels_last from epoch 13'."""
    segments = provenance.get("segments") or [provenance]
    labelled = ((s.get("from_epoch", 0), _where_how(s.get("device") or "", s.get("engine") or {})) for s in segments)
    (_, (where, how)), *changes = [next(group) for _, group in groupby(labelled, key=lambda x: x[1])]
    parts = [f"{where}, {how}"]
    for start, (w, h) in changes:
        parts.append(f"{'' if w == where else w + ', '}{h} from epoch {start + 1}")
        where = w
    return "; ".join(parts)


def results_markdown(results_dir="results") -> str:
    """One row per stored run (smoke runs left out), full profile first, then by experiment and ratio."""
    rows = []
    for s in ResultsStore(results_dir).summaries(problems=[]):
        if s["profile"] == "smoke":
            continue
        final, best, prov = s.get("final") or {}, s.get("best") or {}, s.get("provenance") or {}
        ratio = s["imbalance"]
        status = "" if s["status"] == "completed" else (
            f" ({s['status']} at epoch {(s.get('divergence') or {}).get('epoch', '?')})")
        epochs = s["config"]["epochs"]
        report, paper = lookup("report", s["experiment"], ratio), paper_overall(s["experiment"], ratio)
        wall = prov.get("wall_seconds")
        rows.append(((PROFILE_ORDER.get(s["profile"], 3), s["experiment"], ratio, registry_setting(s) != "current"),
                     f"| `{s['experiment']}` | {ratio:g} | {s['profile']}, {epochs} epochs | {registry_setting(s)} | "
                     f"{_num(final.get('overall'))}{status} | {_num(final.get('many'))} | {_num(final.get('medium'))} | "
                     f"{_num(final.get('few'))} | {_num(best.get('overall'))} @ {best.get('epoch')} | "
                     f"{'-' if report is None else report} | {'-' if paper is None else paper} | "
                     f"{'-' if wall is None else f'{wall / 60:.0f} min'} | {device_label(prov)} | "
                     f"{(prov.get('git_commit') or '-')[:7]} |"))
    header = ("| run | ratio | profile | setting | final overall | many | medium | few | best epoch (test-selected) "
              "| report (final) | paper (best) | wall time | device | commit |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    return "\n".join([header] + [row for _, row in sorted(rows)])


def bench_markdown(bench_dir="results/bench") -> str:
    rows = []
    for path in sorted(Path(bench_dir).glob("*.json")):
        r = json.loads(path.read_text())
        aa = r.get("augment_ms_per_batch") or {}
        eager, static = aa.get("crop+flip+autoaugment"), aa.get("crop+flip+autoaugment, static (captured step)")
        engine = r.get("engine") or {}
        device = _bench_device(r)
        extra = ", compiled" if engine.get("compile") else ""
        extra += f", {engine['precision']}" if engine.get("precision", "fp32") != "fp32" else ""
        rows.append(f"| `{path.name}` | {device}{extra} | {(r.get('git_commit') or '-')[:7]} | "
                    f"{r['reference_images_per_s']:.0f} | {r['engine_images_per_s']:.0f} | {r['bound_images_per_s']:.0f} | "
                    f"{r['ratio_vs_reference']:.2f} | {r['ratio_vs_bound']:.2f} | {r['eval_images_per_s']:.0f} | "
                    + (f"{eager:.1f} / {static:.1f}" if eager is not None and static is not None else "-")
                    + f" | {r['projected_full_run_s'] / 60:.0f} min |")
    header = ("| record | device, threads | code | (a) reference img/s | (b) engine img/s | (c) bound img/s | b/a | b/c | "
              "evaluation img/s | AutoAugment ms/batch (eager / static) | 200-epoch run at 100 (projected) |\n"
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    return "\n".join([header] + rows)


def _bench_device(record: dict) -> str:
    """'AMD EPYC (AVX512-BF16), x1 threads' where the record names the CPU's bf16 instructions."""
    model, sep, threads = record["device"].split(":", 1)[-1].partition(" x")
    if record.get("cpu"):
        isa = record["cpu"].get("isa") or []
        bf16 = ", ".join(f.upper().replace("_", "-") for f in ("amx_bf16", "avx512_bf16") if f in isa)
        model += f" ({bf16 or 'no native bf16'})"
    return f"{model}, x{threads}" if sep else model


def variants_markdown(bench_dir="results/bench") -> str:
    """The training step's speed under each precision and memory format (``bench --variants``), and how far
    one backward pass's gradient is from a float64 one: the measurements behind the CPU engine's choice."""
    rows = []
    for path in sorted(Path(bench_dir).glob("*.json")):
        r = json.loads(path.read_text())
        if not r.get("variants"):
            continue
        v = {k: r["variants"].get(k) or {} for k in VARIANTS}
        ips = {k: v[k].get("bound_images_per_s") for k in VARIANTS}
        cells = ["-" if ips[k] is None else f"{ips[k]:.0f}" + ("" if v[k].get("gradient_error_vs_float64") is None
                 else f" ({v[k]['gradient_error_vs_float64']:.1e})") for k in VARIANTS]
        fastest = max(VARIANTS, key=lambda k: ips[k] or 0)
        base = ips["fp32 contiguous"]
        gain = f"{fastest}, {ips[fastest] / base:.2f}x" if base else "-"
        rows.append(f"| `{path.name}` | {_bench_device(r)} | {(r.get('git_commit') or '-')[:7]} | "
                    + " | ".join(cells) + f" | {gain} |")
    header = ("| record | device, threads | code | " + " | ".join(f"{k} img/s (gradient error)" for k in VARIANTS)
              + " | fastest, against fp32 contiguous |\n" + "| --- " * (len(VARIANTS) + 4) + "|")
    return "\n".join([header] + rows)


def _replace_after(text: str, mark: str, table: str, where: Path) -> str:
    """The table that follows ``mark`` (up to the first blank line) replaced by ``table``."""
    if mark not in text:
        raise LtError(f"{where} has no line {mark!r} to put the table after")
    head, rest = text.split(mark, 1)
    _, _, tail = rest.lstrip("\n").partition("\n\n")
    return f"{head}{mark}\n{table}\n\n{tail}"


def readme_with_tables(readme="README.md", results_dir="results") -> str:
    readme = Path(readme)
    text = readme.read_text()
    text = _replace_after(text, RESULTS_MARK, results_markdown(results_dir), readme)
    text = _replace_after(text, BENCH_MARK, bench_markdown(Path(results_dir) / "bench"), readme)
    return _replace_after(text, VARIANTS_MARK, variants_markdown(Path(results_dir) / "bench"), readme)


def update_readme(readme="README.md", results_dir="results") -> bool:
    """Rewrite the README's generated tables; True when they changed."""
    from ..runs.results import atomic_write_text

    new = readme_with_tables(readme, results_dir)
    if new == Path(readme).read_text():
        return False
    atomic_write_text(Path(readme), new)
    return True
