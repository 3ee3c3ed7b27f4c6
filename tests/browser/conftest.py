"""Fixtures for the browser tests: headless Debian Chromium driven by Playwright.

Playwright's own browser download is not used: the tests launch the system
Chromium (`make chromium` installs it).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

# Playwright's sync API runs an asyncio event loop in the main thread, so Django
# believes the test body is async code and raises SynchronousOnlyOperation on
# every ORM call (creating users, etc.). The test itself is plain synchronous
# code, so this is the documented workaround for pytest-django + Playwright.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
# Waits are on conditions (an element, a URL); on a busy machine a page can take
# far longer than Playwright's 5 s default to get there, which is not a failure.
BUSY_MACHINE_WAIT_MS = 60_000
expect.set_options(timeout=BUSY_MACHINE_WAIT_MS)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need it. "
            "Run `make chromium` to install it (or set CHROMIUM_PATH).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page in its own browser context (no shared cookies) per test."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(BUSY_MACHINE_WAIT_MS)
    page = context.new_page()
    yield page
    context.close()
