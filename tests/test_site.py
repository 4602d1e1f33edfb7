"""The course book: built by Jupyter Book from executed notebooks, opened in headless Chromium (Debian's,
driven by Playwright) over a local HTTP server, as a reader would serve it: every page loads without a
console error, every image resolves, the sidebar lists the chapters in order, search finds LDAM in
notebook 04, equations render as math, and machine paths stay out of the pages."""
import functools
import http.server
import json
import re
import shutil
import threading

import pytest

from lt_lib.course.report import run_report
from lt_lib.course.site import build_site

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def text(path):
    """A page's text without its tags (Sphinx splits code literals into one span per word)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The report over two notebooks and the stored runs but one (nothing trained), then the book."""
    from conftest import ROOT

    base = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "results", base / "results")  # report writes summary.csv into its store
    # one run the missing-runs page must list, whichever runs the store holds by now
    shutil.rmtree(base / "results" / "elf-ldam-drw-ir50-s0-full", ignore_errors=True)
    outcomes = run_report(None, ["00", "04"], device="cpu", out=base / "executed", results_dir=base / "results",
                          figures_dir=base / "figures", runs_dir=base / "runs", progress=False, site=False, html=False)
    assert [o["status"] for o in outcomes] == ["ok", "ok"]
    return build_site(base / "executed", base / "results", base / "figures", site_dir=base / "site")


def test_the_landing_page_lists_every_phase_with_goals_figure_and_numbers(site):
    html = site.read_text()
    assert text(site).count("Not rendered yet: python -m lt_lib report --notebooks") == 8  # every numbered notebook has its place, rendered or not
    assert "<li><p>compute the long-tailed class counts" in html  # 00's goals, from its own cell
    assert 'href="notebooks/00_long_tailed_cifar10.html"' in html and "00_class_counts.png" in html
    assert "elf-ldam-drw" in html and "final %" in html  # 04's headline numbers, from the store
    facts = json.loads((site.parent / "site.json").read_text())
    assert facts["pages"] == ["notebooks/00_long_tailed_cifar10.html", "notebooks/04_elf_baseline.html"]
    assert facts["errors"] == {"00_long_tailed_cifar10": 0, "04_elf_baseline": 0}
    missing = text(site.parent / "missing.html")
    assert "elf-ldam-drw-ir50-s0-full" in missing and "python -m lt_lib train elf-ldam-drw --imbalance 50 --profile full" in missing


def test_pages_hide_papermill_plumbing_and_box_the_conclusions(site):
    page = (site.parent / "notebooks" / "04_elf_baseline.html").read_text()
    assert str(site.parent.parent) not in page  # the injected parameters cell (machine paths) is removed
    assert '<div class="tip admonition">\n<p class="admonition-title">What we saw</p>' in page
    assert '<div class="note admonition">\n<p class="admonition-title">How to run</p>' in page
    assert "Cao <em>et al.</em>" in page and 'id="references"' in page  # cited, with the page's references


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_in_a_browser_pages_load_search_finds_and_math_renders(site, served):
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    chapters = json.loads((site.parent / "site.json").read_text())["chapters"]
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors, failed = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("requestfailed", lambda r: failed.append(r.url))
        # the browser's own /favicon.ico request: the book has no icon, which is no error of a page
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        for path in ["index.html"] + chapters:
            response = page.goto(f"{served}/{path}", wait_until="load")
            assert response is not None and response.ok, path
            broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                                   ".map(i => i.src.slice(0, 80))")
            assert broken == [], (path, broken)
            assert "Traceback (most recent call last)" not in page.inner_text("body"), path
        # the sidebar links every chapter, in order
        links = page.evaluate("Array.from(document.querySelectorAll('nav.bd-links a.reference.internal'))"
                              ".map(a => new URL(a.href).pathname)")
        assert [link.lstrip("/") for link in links] == chapters
        # math: MathJax from the book itself typesets the formula of notebook 00
        page.goto(f"{served}/notebooks/00_long_tailed_cifar10.html", wait_until="load")
        page.wait_for_selector("mjx-container", timeout=20_000)
        assert "$$" not in page.inner_text("article")
        assert any("/_static/mathjax/" in s for s in page.evaluate(
            "Array.from(document.scripts).map(s => s.src)"))
        # search: LDAM is notebook 04's subject
        page.goto(f"{served}/search.html?q=LDAM", wait_until="load")
        page.wait_for_selector("#search-results li", timeout=20_000)
        found = page.evaluate("Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href)")
        assert any(h.endswith("notebooks/04_elf_baseline.html") for h in found), found
        page.goto(f"{served}/index.html", wait_until="load")
        page.screenshot(path=str(site.parent / "index.png"), full_page=True)
        browser.close()
    assert failed == [], failed
    assert [e for e in errors if "404 (File not found)" not in e] == [], errors  # 404s: each one is in failed
    assert (site.parent / "index.png").stat().st_size > 10_000
