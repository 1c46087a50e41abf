"""Fixtures for the dashboard's browser tests: one live server and one Chromium per session,
a fresh browser context per test, a screenshot of every test under test-output/ui/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_support import OUTPUT, LiveServer, api_login, chromium, live_server, safe_name


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Keep each phase's report on the item, so the page fixture knows whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("ui-home"), parallelism=2) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        with chromium() as launched:
            yield launched
    except RuntimeError as exc:  # Chromium missing: say how to get it, never skip silently
        pytest.fail(str(exc), pytrace=False)


class PageErrors(list):
    """Uncaught exceptions and console errors of the page, except failed requests."""


def _console(errors: PageErrors, msg: Any) -> None:
    # A failed request is logged as a console error too; a 401 or 404 is the API's answer,
    # which the tests check where it matters.
    if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
        errors.append(f"console: {msg.text}")


@pytest.fixture
def page(browser: Any, server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh context (cookies, storage) and page; screenshot saved after the test.

    `page.errors` lists the page's uncaught exceptions and console errors. A module that sets
    `BYPASS_CSP = True` gets a context that ignores the page's Content-Security-Policy: its
    tests then prove the DOM itself inert (the CSP would hide an unsafe innerHTML).
    """
    context = browser.new_context(
        viewport={"width": 1280, "height": 860},
        bypass_csp=bool(getattr(request.module, "BYPASS_CSP", False)),
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors = PageErrors()
    opened.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    opened.on("console", lambda msg: _console(errors, msg))
    opened.errors = errors
    yield opened
    OUTPUT.mkdir(parents=True, exist_ok=True)
    name = safe_name(request.node.nodeid)
    failed = getattr(request.node, "report_call", None)
    suffix = "-FAILED" if failed is not None and failed.failed else ""
    (OUTPUT / f"{name}-FAILED.png").unlink(missing_ok=True)  # a stale one from an earlier run
    try:
        opened.screenshot(path=str(OUTPUT / f"{name}{suffix}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def session_page(page: Any, server: LiveServer) -> Any:
    """A page whose context is logged in (through the API; the form has its own test)."""
    api_login(page.context, server)
    return page
