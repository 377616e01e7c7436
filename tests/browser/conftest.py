"""Playwright (sync API) driving Debian's Chromium against the shared `live_server` fixture.

Never runs `playwright install`: the browser is /usr/bin/chromium (apt package `chromium`).
Without it the browser tests skip, unless SEGTUNE_REQUIRE_BROWSER=1 makes that a failure.
"""

import os
from pathlib import Path

import pytest

from tests.accounts import PASSWORD

CHROMIUM = Path(os.environ.get("SEGTUNE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    """Mark every test in this folder as a browser test (`-m "not browser"` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium`"
    if os.environ.get("SEGTUNE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (SEGTUNE_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh page whose relative URLs go to the live server; fails the test on JS errors."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}
    )
    context.set_default_timeout(15_000)
    signed_in = context.request.post(
        "/api/auth/login", data={"email": live_server.admin_email, "password": PASSWORD}
    )
    assert signed_in.ok, signed_in.text()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
