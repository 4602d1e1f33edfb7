"""The course site: built from executed notebooks, opened in headless Chromium (Debian's, driven by
Playwright): every page loads, every image resolves, no notebook page holds an error output."""
import json
import shutil
from pathlib import Path

import pytest

from lt_lib.course.report import run_report
from lt_lib.course.site import build_site

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The report over two notebooks and the stored runs (nothing trained), then the site."""
    from conftest import ROOT

    base = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "results", base / "results")  # report writes summary.csv into its store
    outcomes = run_report(None, ["00", "04"], device="cpu", out=base / "executed", results_dir=base / "results",
                          figures_dir=base / "figures", runs_dir=base / "runs", progress=False, site=False)
    assert [o["status"] for o in outcomes] == ["ok", "ok"]
    index = build_site(base / "executed", base / "results", base / "figures", site_dir=base / "site")
    return index


def test_the_index_lists_each_phase_with_goals_figure_and_numbers(site):
    html = site.read_text()
    assert html.count('class=phase') == 10  # every numbered notebook has its phase, rendered or not
    assert html.count("not rendered yet: python -m lt_lib report --notebooks") == 8  # all but 00 and 04
    assert "Learning goals" not in html and "<li>compute the long-tailed class counts" in html  # the goals, listed
    assert 'href="notebooks/00_long_tailed_cifar10.html"' in html and 'src="figures/00_class_counts.png"' in html
    assert "elf-ldam-drw" in html and "final %" in html  # 04's headline numbers, from the store
    pages = json.loads((site.parent / "site.json").read_text())["pages"]
    assert pages == ["00_long_tailed_cifar10.html", "04_elf_baseline.html"]
    assert all((site.parent / "notebooks" / p).is_file() for p in pages)


def test_every_page_loads_every_image_resolves_and_no_error_output(site):
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pages = [site] + sorted((site.parent / "notebooks").glob("*.html"))
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        failed = []  # the site's own files; the notebook pages' CDN scripts (MathJax) cannot load offline
        page.on("requestfailed", lambda r: failed.append(r.url) if r.url.startswith("file:") else None)
        for path in pages:
            response = page.goto(Path(path).as_uri(), wait_until="load")
            assert response is None or response.ok, path
            broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                                   ".map(i => i.src.slice(0, 80))")
            assert broken == [], (path.name, broken)
            if path != site:
                assert page.evaluate("document.querySelector('meta[name=lt-error-outputs]').content") == "0", path.name
                assert "Traceback (most recent call last)" not in page.inner_text("body"), path.name
                assert page.evaluate("document.images.length") > 0, path.name
        page.goto(site.as_uri())
        page.screenshot(path=str(site.parent / "index.png"), full_page=True)
        browser.close()
    assert failed == [] and (site.parent / "index.png").stat().st_size > 10_000
