"""``python -m lt_lib site``: the course as a small static site, from the executed notebooks.

``out/site/index.html`` lists the phases in order, each with its learning goals (the notebook's own
"Learning goals" cell), its key figure and its headline numbers (read from the results store, never
typed), and links each executed notebook's HTML export, copied beside it with the figures. Each
notebook page carries ``<meta name="lt-error-outputs">`` with the number of error outputs its
executed notebook holds (``tests/test_site.py`` opens every page in headless Chromium).
"""
from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from ..errors import LtError

STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.phase{border-top:1px solid #ddd;padding:1em 0;display:grid;grid-template-columns:1fr 360px;gap:1.5em}
.phase img{max-width:360px;border:1px solid #eee}.goals{margin:.3em 0}.numbers{font-size:.9em;border-collapse:collapse}
.numbers td,.numbers th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}.small{color:#666;font-size:.85em}"""


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


def build_site(executed_dir, results_dir="results", figures_dir="figures", profile: str = "auto",
               site_dir=None, notebooks_dir=None) -> Path:
    """The site from ``executed_dir``'s notebooks and HTML exports (``report`` writes them); returns
    the index path. ``site_dir`` defaults to ``<project>/out/site``. Every notebook of ``notebooks_dir``
    (default the project's notebooks/) has its place in the index: one not executed yet says so and
    how to render it, so that rendering a few notebooks never shrinks the site."""
    from .notebook import project_root

    executed_dir, figures_dir = Path(executed_dir), Path(figures_dir)
    executed = {p.name: p for p in executed_dir.glob("[0-9][0-9]_*.ipynb")}
    if not executed:
        raise LtError(f"no executed notebooks in {executed_dir}; run python -m lt_lib report first")
    sources = Path(notebooks_dir) if notebooks_dir else project_root() / "notebooks"
    names = sorted(set(executed) | {p.name for p in sources.glob("[0-9][0-9]_*.ipynb")})
    site = Path(site_dir) if site_dir else project_root() / "out" / "site"
    if site.exists():
        shutil.rmtree(site)
    (site / "notebooks").mkdir(parents=True)
    (site / "figures").mkdir()
    sections = []
    for name in names:
        path = executed.get(name)
        if path is None:
            facts = _notebook_facts(sources / name)
            sections.append(
                f'<div class=phase id="{Path(name).stem}"><div><h2>{html.escape(facts["title"])}</h2>'
                f'<div class=small>{html.escape(facts["phase"])}</div><p class=small>not rendered yet: '
                f"python -m lt_lib report --notebooks {name[:2]}</p></div></div>")
            continue
        facts = _notebook_facts(path)
        page = path.with_suffix(".html")
        link = ""
        if page.is_file():
            text = page.read_text(encoding="utf-8")
            marker = f'<meta name="lt-error-outputs" content="{facts["errors"]}">'
            text = text.replace("<head>", "<head>\n" + marker, 1)
            (site / "notebooks" / page.name).write_text(text, encoding="utf-8")
            link = f'<a href="notebooks/{page.name}">open the notebook</a>'
        figure = ""
        if facts["key_figure"] and (figures_dir / f"{facts['key_figure']}.png").is_file():
            shutil.copy(figures_dir / f"{facts['key_figure']}.png", site / "figures")
            figure = f'<img src="figures/{facts["key_figure"]}.png" alt="{html.escape(facts["title"])}">'
        goals = "".join(f"<li>{html.escape(g)}</li>" for g in facts["goals"])
        sections.append(
            f'<div class=phase id="{path.stem}"><div><h2>{html.escape(facts["title"])}</h2>'
            f'<div class=small>{html.escape(facts["phase"])}</div><ul class=goals>{goals}</ul>'
            f'{_numbers(facts["headline"], Path(results_dir))}<p>{link}'
            + (f' <b>({facts["errors"]} error output(s))</b>' if facts["errors"] else "") + f"</p></div>{figure}</div>")
    index = site / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset=utf-8><title>lt-companion: the course</title>"
        f"<style>{STYLE}</style></head><body><h1>Long-tailed CIFAR-10: ResLT, early exits and their hybrids</h1>"
        "<p class=small>A course over the report's phases. Numbers are read from the results store: final "
        "epoch, and the best epoch beside it (selected on the test set); full-profile runs (200 epochs) where "
        f"stored, else quick ones (30 epochs, not reproductions). Rendered with profile: {html.escape(profile)}.</p>"
        + "".join(sections) + "</body></html>\n", encoding="utf-8")
    (site / "site.json").write_text(json.dumps({"pages": [Path(n).with_suffix(".html").name for n in names
                                                          if n in executed]}) + "\n")
    return index
