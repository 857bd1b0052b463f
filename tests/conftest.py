"""Shared fixtures: one Analyzer for the session (loading rules takes a fraction of a second)."""

from pathlib import Path

import pytest

from pipeline.nlp import Analyzer
from pipeline.run import process_texts

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
PATTERNS = ROOT / "patterns"


@pytest.fixture(scope="session")
def analyzer():
    return Analyzer(PATTERNS)


@pytest.fixture(scope="session")
def run(analyzer):
    """text -> ReportResult."""

    def _run(text):
        return process_texts(analyzer, [text])[0]

    return _run


# --- real-browser tests ---------------------------------------------------------------------
# Pages are opened in the system's Chromium (Debian package `chromium`), driven by Playwright
# with `executable_path`; Playwright's own browser download is never used. Without Chromium
# the browser tests are skipped, except where MODIC_REQUIRE_BROWSER=1 (set by .ci/run), where
# a missing browser is an error.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_path():
    import os
    import shutil

    for name in (os.environ.get("MODIC_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium for the session (Playwright's sync API)."""
    import os

    path = _chromium_path()
    if path is None:
        if os.environ.get("MODIC_REQUIRE_BROWSER") == "1":
            pytest.fail("MODIC_REQUIRE_BROWSER=1 but no chromium executable was found on PATH")
        pytest.skip("no chromium on PATH (apt-get install chromium) - browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors and uncaught exceptions in `page.errors`.

    Any request that leaves file:// or data: is refused and recorded in `page.requests_out`,
    so a test can assert that a page is self-contained."""
    context = browser.new_context()
    pg = context.new_page()
    pg.errors = []
    pg.requests_out = []
    pg.on("console", lambda msg: pg.errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.errors.append(f"pageerror: {exc}"))

    def _route(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            pg.requests_out.append(url)
            route.abort()

    pg.route("**/*", _route)
    yield pg
    context.close()
