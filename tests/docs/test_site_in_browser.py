"""The docs site and the HTML report, checked as a reader would: in headless Chromium.

Builds the site (``mkdocs build --strict``, worked examples executed) and a report of
the toy SYNTHETIC trial, serves both from a localhost http.server on a free port and
opens every page with Playwright driving Debian's Chromium (``/usr/bin/chromium``; a
test tool's own browser download does not work here). For every page: no console
errors or uncaught exceptions, every ``<img>`` decoded (``naturalWidth > 0``), every
internal link answers HTTP 200. The report's forest plot must list the published row.
Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: Pages screenshotted (paths relative to the server root).
SCREENSHOTS = {
    "report/report.html": "report.png",
    "index.html": "docs-home.png",
    "examples/bayes-prior-grid/index.html": "docs-bayes-prior-grid.png",
    "examples/report/index.html": "docs-report-example.png",
    "validation/index.html": "docs-validation.png",
}


def _mkdocs_env() -> dict:
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}


def build_site(dest: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of the repository's site into ``dest``."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(dest)], cwd=ROOT, env=_mkdocs_env(), capture_output=True, text=True,
                          timeout=1500)  # examples run, Bayesian models compiled cold on a new machine


def _toy():
    spec = importlib.util.spec_from_file_location("longmod_tests_toy_trial_docs",
                                                  ROOT / "tests" / "report" / "toy_trial.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


class _Server(ThreadingHTTPServer):
    """A browser that stops reading a response (it navigated on) is not a server error; anything else is reported."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the docs tools are not installed: pip install -e '.[docs]'")
    root = tmp_path_factory.mktemp("served")
    site = root / "site"
    proc = build_site(site)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert "WARNING" not in proc.stderr.replace("MkDocs 2", ""), proc.stderr[-3000:]
    toy = _toy()
    res = toy.toy_reanalysis(toy.write_toy_trial(root / "toy"))
    from longmod.report.html import write_html_report

    write_html_report(res, site / "report")
    server = _Server(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _need_browser(api: str):
    """Playwright's ``sync_api`` or ``async_api``; the test is skipped, saying what to install, without them."""
    if not CHROMIUM.is_file():
        pytest.skip("/usr/bin/chromium not found: install Debian's chromium and chromium-driver "
                    "(scripts/setup --test does)")
    return pytest.importorskip(f"playwright.{api}", reason="playwright is not installed: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def browser():
    with _need_browser("sync_api").sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _search_index_once(index: dict):
    """Route handler: the first request gets the real search index, later ones the same index without documents.

    mkdocs-material fetches and indexes the whole search index (1.5 MB) on every page load; for 200 pages that was
    half of this test's time and checks nothing new after the first page, which gets the real one.
    """
    served: list[str] = []
    empty = json.dumps({**index, "docs": []})

    async def handle(route):
        if not served:
            served.append(route.request.url)
            await route.continue_()
        else:
            await route.fulfill(status=200, content_type="application/json", body=empty)

    return handle


def _pages(site: Path) -> list[str]:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("index.html"))
    return pages + ["report/report.html"]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # localhost only
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def _open_every_page(async_api, base: str, pages: list[str], index: dict,
                           tabs: int) -> tuple[list[str], set[str], int]:
    """Open each page once, ``tabs`` browser tabs at a time (``async_api``: Playwright's): problems, links, images."""
    problems: list[str] = []
    internal: set[str] = set()
    n_images = 0
    todo = iter(pages)  # shared by the tabs: each page is taken once

    async def tab(context):
        nonlocal n_images
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        for rel in todo:
            errors.clear()
            resp = await page.goto(base + rel, wait_until="load")
            if resp is None or resp.status != 200:
                problems.append(f"{rel}: HTTP {resp.status if resp else 'no response'}")
                continue
            imgs = await page.evaluate(
                "Array.from(document.images).map(i => [i.currentSrc.slice(0, 60), i.complete, i.naturalWidth])")
            n_images += len(imgs)
            problems.extend(f"{rel}: image not rendered {src!r}" for src, done, w in imgs if not done or w == 0)
            hrefs = await page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
            internal.update(urllib.parse.urldefrag(h)[0] for h in hrefs if h.startswith(base))
            await page.wait_for_timeout(50)  # let late console errors (e.g. failed fetches) arrive
            problems.extend(f"{rel}: {e}" for e in errors)
            if rel in SCREENSHOTS:
                await page.screenshot(path=str(ARTIFACTS / SCREENSHOTS[rel]), full_page=True)

    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        await context.route("**/search/search_index.json", _search_index_once(index))
        await asyncio.gather(*(tab(context) for _ in range(tabs)))
        await browser.close()
    return problems, internal, n_images


def test_every_page_renders_without_errors(served):
    """Two tabs at a time: a page load is mostly waiting on the browser (64 -> 50 s for 213 pages, idle machine)."""
    async_api = _need_browser("async_api")
    site, base = served
    ARTIFACTS.mkdir(exist_ok=True)
    pages = _pages(site)
    assert len(pages) > 15 and "examples/reproduce-stroma-cov2/index.html" in pages
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert len(index["docs"]) > len(pages), "the search index does not cover the pages"
    problems, internal, n_images = asyncio.run(_open_every_page(async_api, base, pages, index, tabs=2))
    assert not problems, "\n".join(problems)
    broken = sorted(u for u in internal if _status(u) != 200)
    assert not broken, f"internal links that do not resolve: {broken}"
    assert len(internal) > 30
    # report: forest, 2 trajectories, prior/posterior; examples: >= 3 more (more once the fixture exists)
    assert n_images >= 7


def test_report_forest_plot_lists_published_row(served, browser):
    _, base = served
    page = browser.new_page()
    try:
        page.goto(base + "report/report.html", wait_until="load")
        assert "SYNTHETIC" in page.title()
        assert page.locator("#synthetic-banner").is_visible()
        img = page.locator("#fig-forest img")
        assert img.evaluate("i => i.naturalWidth") > 300
        assert "Published: ANCOVA of D0->D7 change (primary): 7.4 (-44.7 to 59.7)" in img.get_attribute("alt")
        first = page.locator("#forest-rows tbody tr").first
        assert first.get_attribute("class") == "published"
        cells = first.locator("td").all_inner_texts()
        assert cells[1] == "published" and cells[3] == "7.4" and cells[4] == "-44.7 to 59.7"
        flagged = page.locator("#diagnostics-table tr.problem td:first-child").all_inner_texts()
        assert sorted(flagged) == ["bayes_mmrm", "lmm_ri"]
    finally:
        page.close()


def test_docs_examples_were_executed(served):
    site, _ = served
    html = (site / "examples" / "own-data" / "index.html").read_text(encoding="utf-8")
    # the executed example's output, not just its source: a results table and the collected validation errors
    assert "<td>primary_ancova</td>" in html and "column 'arm': unknown arm 'vitamin-c'; valid arms" in html
    bayes = (site / "examples" / "bayes-prior-grid" / "index.html").read_text(encoding="utf-8")
    assert "sceptical-strong" in bayes and bayes.count('src="data:image/png;base64,') >= 2
    api = (site / "reference" / "longmod" / "report" / "plots" / "index.html").read_text(encoding="utf-8")
    assert "forest_plot" in api and "Returns" in api
    # the CLI run on the Getting started page: progress lines and the summary table
    start = (site / "getting-started" / "index.html").read_text(encoding="utf-8")
    assert "[4/4" in start and "vs published" in start and "prior_grid_published (10 priors)" in start
    # Validation: the SAS -2 log-likelihoods recomputed at build time, all within the test tolerance
    val = (site / "validation" / "index.html").read_text(encoding="utf-8")
    if (ROOT.parent / "shared" / "reference" / "mmrm" / "sas_reference.yaml").is_file():
        assert "<td>us_full_reml_satterthwaite</td>" in val and val.count("<td>yes</td>") >= 18
        assert "<td>NO</td>" not in val
    # the Package structure page's generated module table covers the report modules
    structure = (site / "structure" / "index.html").read_text(encoding="utf-8")
    assert "<code>longmod.report.json_report</code>" in structure
