"""``python -m lt_lib site``: the course as a book, built by Jupyter Book (1.x, on Sphinx) from the
executed notebooks of ``report`` (never executed again).

The tool gives the navigation (sidebar, previous / next), full-text search, MathJax served from the
built site (``sphinx-mathjax-offline``: no network when reading), citations (``sphinxcontrib-bibtex``
over ``notebooks/references.bib``) and a download button per notebook. What lt_lib adds, because the
tool cannot know it:

- the landing page: the phases in order, each with its learning goals (the notebook's own cell), its
  key figure and its headline numbers read from the results store (never typed);
- a page of the missing runs, each with its command and the estimates ``report`` prints;
- cell tags on the book's copies: papermill's injected cell (machine paths) removed, the parameters
  cell and the plumbing (imports, ``setup``) collapsed;
- the "What we saw" and how-to-run outputs shown as admonitions, and a references section on every page
  that cites.

``site.json`` beside ``index.html`` lists the chapters in order and each one's error outputs
(``tests/test_site.py`` opens every page in headless Chromium).
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import LtError

BOOK_TITLE = "Long-tailed CIFAR-10: ResLT, early exits and their hybrids"
PLUMBING = ("nb = setup(", "%matplotlib inline")  # a code cell holding one of these is collapsed
BOXES = {"### What we saw": ("What we saw", "tip"), "**How to run.**": ("How to run", "note")}


def _notebook_facts(path: Path) -> dict:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("lt", {})
    title, goals = path.stem, []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        heading = re.match(r"#\s+(.+)", cell.source)
        if heading and title == path.stem:
            title = heading.group(1).strip()
        if "learning goals" in cell.source.lower():
            goals = [re.sub(r"^[-*]\s+", "", line).strip() for line in cell.source.splitlines()
                     if re.match(r"^[-*]\s+", line)]
            break
    errors = sum(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    return {"title": title, "goals": goals, "errors": errors, "phase": meta.get("phase", ""),
            "key_figure": meta.get("key_figure"), "headline": meta.get("headline", [])}


def _numbers(headline, results_dir: Path) -> str:
    """Rows of stored final / best-epoch accuracies for the notebook's headline runs."""
    from .notebook import setup

    if not headline:
        return ""
    nb = setup("auto", results_dir=results_dir, quiet=True)
    rows = []
    for experiment, ratio in headline:
        run = nb.runs([experiment], [ratio], train=False).iloc[0]
        if run["status"] not in ("completed", "diverged"):
            rows.append(f"<tr><td>{html.escape(experiment)}</td><td>{ratio:g}</td><td colspan=3>"
                        f"{html.escape(run['status'])}</td></tr>")
            continue
        best = run.get("best_overall")
        rows.append(f"<tr><td>{html.escape(experiment)}</td><td>{ratio:g}</td><td>{run['overall']:.2f}</td>"
                    f"<td>{best:.2f}</td><td>{html.escape(run['shown as'])}"
                    + (", old setting" if run.get("setting") == "old setting" else "") + "</td></tr>")
    return ("<table class=numbers><tr><th>run</th><th>ratio</th><th>final %</th><th>best epoch % "
            "(test-selected)</th><th>from</th></tr>" + "".join(rows) + "</table>")


def _book_notebook(source: Path, target: Path) -> dict:
    """Copy an executed notebook into the book's sources with the tags and boxes described above;
    returns its facts (title, goals, errors, ...)."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    cites = False
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if cell.cell_type == "markdown":
            cites |= "{cite}" in cell.source
            continue
        if cell.cell_type != "code":
            continue
        if "injected-parameters" in tags:
            tags.append("remove-cell")
        elif "parameters" in tags:
            tags.append("hide-cell")
        elif any(p in cell.source for p in PLUMBING):
            tags.append("hide-input")
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown")
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            for start, (title, kind) in BOXES.items():
                if text.startswith(start):
                    body = text[len(start):].strip() if start.startswith("#") else text.strip()
                    out["data"]["text/markdown"] = f":::{{admonition}} {title}\n:class: {kind}\n\n{body}\n:::\n"
    if cites:
        nb.cells.append(nbformat.v4.new_markdown_cell(
            "## References\n\n```{bibliography}\n:filter: docname in docnames\n```"))
    nbformat.write(nb, target)
    return _notebook_facts(source)


def _landing(sections: list[dict], results_dir: Path, profile: str) -> str:
    parts = [f"# {BOOK_TITLE}\n",
             "A course over the report's phases, one chapter per notebook, in the report's order. Numbers are "
             "read from the results store: the final epoch, and the best epoch beside it (selected on the test "
             "set); full-profile runs (200 epochs) where stored, else quick ones (30 epochs, not reproductions). "
             f"Rendered with profile: {profile}. What is still missing, and how to train it: "
             "[the missing runs](missing.md).\n"]
    for s in sections:
        link = f"[{s['title']}](notebooks/{s['stem']}.ipynb)" if s["rendered"] else s["title"]
        parts.append(f"## {link}\n\n*{s['phase']}*\n")
        if not s["rendered"]:
            parts.append(f"Not rendered yet: `python -m lt_lib report --notebooks {s['stem'][:2]}`\n")
            continue
        parts.append("".join(f"- {g}\n" for g in s["goals"]))
        if s["figure"]:
            parts.append(f"\n```{{image}} figures/{s['figure']}.png\n:alt: {s['title']}\n:width: 480px\n```\n")
        numbers = _numbers(s["headline"], results_dir)
        if numbers:
            parts.append("\n" + numbers + "\n")
        if s["errors"]:
            parts.append(f"\n**{s['errors']} error output(s) in this notebook.**\n")
    return "\n".join(parts)


def _missing_page(stems, results_dir: Path) -> str:
    """Every run the rendered chapters still miss, per profile, with its command and the estimates of
    ``timing.run_estimate`` (the figures ``report`` and the how-to-run boxes print)."""
    from ..runs.plan import plan_runs
    from ..runs.timing import default_precision, duration, recorded, run_estimate

    speeds = recorded([results_dir])
    lines = ["# The missing runs\n",
             "The runs the chapters show as *not run yet*, per profile, with the time each takes on the "
             "machines whose runs are recorded (GPU: a lease; CPU: one core). `python -m lt_lib report --train "
             "--profile P` trains them all; `python -m lt_lib plan` works through the full-profile ones on "
             "the CPUs, a run per core, resuming from checkpoints.\n"]
    for prof in ("full", "quick"):
        missing = [cfg for cfg, _, _ in plan_runs(prof, stems, (0,), results_dir, "cpu",
                                                   estimator=lambda c, d: (0.0, ""))]
        lines.append(f"## {prof.capitalize()} profile: {len(missing)} run(s)\n")
        if not missing:
            continue
        lines.append("| run | on a GPU | on a CPU core | command |\n|---|---|---|---|")
        for cfg in missing:
            cells = []
            for kind in ("cuda", "cpu"):
                seconds, _ = run_estimate(cfg, kind, speeds, default_precision(kind, prof))
                cells.append(duration(seconds) if seconds is not None else "not measured yet")
            command = f"python -m lt_lib train {cfg.experiment} --imbalance {cfg.imbalance:g} --profile {prof}"
            lines.append(f"| `{cfg.run_id}` | {cells[0]} | {cells[1]} | `{command}` |")
        lines.append("")
    return "\n".join(lines)


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    found = str(exe) if exe.is_file() else shutil.which("jupyter-book")
    if found is None:
        raise LtError("Jupyter Book is not installed; run the README's install command (pip install -e \".[dev]\")")
    return [found]


def build_site(executed_dir, results_dir="results", figures_dir="figures", profile: str = "auto",
               site_dir=None, notebooks_dir=None) -> Path:
    """The book from ``executed_dir``'s notebooks (``report`` writes them); returns its index path.
    ``site_dir`` defaults to ``<project>/out/site``. Every notebook of ``notebooks_dir`` (default the
    project's notebooks/) has its place on the landing page: one not executed yet says so and how to
    render it, so that rendering a few notebooks never shrinks the book."""
    from .notebook import project_root

    executed_dir, figures_dir, results_dir = Path(executed_dir), Path(figures_dir), Path(results_dir)
    executed = {p.name: p for p in executed_dir.glob("[0-9][0-9]_*.ipynb")}
    if not executed:
        raise LtError(f"no executed notebooks in {executed_dir}; run python -m lt_lib report first")
    sources = Path(notebooks_dir) if notebooks_dir else project_root() / "notebooks"
    bib = sources / "references.bib"
    if not bib.is_file():
        bib = project_root() / "notebooks" / "references.bib"
    names = sorted(set(executed) | {p.name for p in sources.glob("[0-9][0-9]_*.ipynb")})
    site = Path(site_dir) if site_dir else project_root() / "out" / "site"
    with tempfile.TemporaryDirectory(prefix="lt-book-") as tmp:
        src = Path(tmp) / "book"
        (src / "notebooks").mkdir(parents=True)
        (src / "figures").mkdir()
        sections = []
        for name in names:
            stem = Path(name).stem
            if name in executed:
                facts = _book_notebook(executed[name], src / "notebooks" / name)
            else:
                facts = _notebook_facts(sources / name)
            figure = facts["key_figure"] if facts["key_figure"] and (
                figures_dir / f"{facts['key_figure']}.png").is_file() else None
            if figure and name in executed:
                shutil.copy(figures_dir / f"{figure}.png", src / "figures")
            sections.append({**facts, "stem": stem, "rendered": name in executed, "figure": figure})
        (src / "index.md").write_text(_landing(sections, results_dir, profile), encoding="utf-8")
        (src / "missing.md").write_text(_missing_page([s["stem"] for s in sections if s["rendered"]], results_dir),
                                        encoding="utf-8")
        shutil.copy(bib, src / "references.bib")
        chapters = [f"- file: notebooks/{s['stem']}" for s in sections if s["rendered"]] + ["- file: missing"]
        (src / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n" + "\n".join(chapters) + "\n")
        (src / "_config.yml").write_text(
            f"title: \"{BOOK_TITLE}\"\nauthor: lt-companion\nonly_build_toc_files: true\n"
            "execute:\n  execute_notebooks: \"off\"\n"
            "bibtex_bibfiles: [references.bib]\n"
            "html:\n  use_repository_button: false\n  home_page_in_navbar: true\n"
            "sphinx:\n  extra_extensions: [sphinx-mathjax-offline]\n  config:\n"
            "    nb_render_markdown_format: myst\n    html_show_copyright: false\n    bibtex_reference_style: author_year\n"
            # each citing page has its own references: a key cited on two pages is meant twice
            "    suppress_warnings: [bibtex.duplicate_citation]\n"
            "    html_theme_options:\n      use_download_button: true\n      show_toc_level: 2\n"
            "    html_context:\n      default_mode: light\n")
        out = Path(tmp) / "out"
        done = subprocess.run(_jupyter_book() + ["build", str(src), "--path-output", str(out), "--warningiserror",
                                                 "--keep-going", "--quiet"], capture_output=True, text=True)
        if done.returncode != 0:
            raise LtError("the book did not build (jupyter-book build):\n" + (done.stdout + done.stderr)[-3000:])
        if site.exists():
            shutil.rmtree(site)
        shutil.copytree(out / "_build" / "html", site)
    pages = [f"notebooks/{s['stem']}.html" for s in sections if s["rendered"]]
    (site / "site.json").write_text(json.dumps({
        "pages": pages, "chapters": pages + ["missing.html"],
        "errors": {s["stem"]: s["errors"] for s in sections if s["rendered"]}}) + "\n")
    return site / "index.html"
