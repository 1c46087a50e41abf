"""Script in a pipeline name, a log line, a Markdown artifact and an HTML artifact stays inert.

The browser context ignores the page's CSP (`BYPASS_CSP`): the CSP would block inline script
anyway, so only without it does a test prove the dashboard never turns user text into HTML.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from ui_pipelines import XSS, spec_of, xss_pipeline
from ui_support import LiveServer

BYPASS_CSP = True
# Whatever a page shows, none of these may exist in it: each one is XSS text turned into HTML.
INJECTED = "#app img[src='x'], #app script, #app a[href^='javascript:' i], #app [onerror]"


@pytest.fixture(scope="module")
def xss_run(server: LiveServer) -> dict[str, Any]:
    """One finished run of the XSS pipeline (also uploaded under the XSS name)."""
    spec = spec_of(xss_pipeline)
    pipeline = server.upload(spec, XSS)
    run_id = server.start_run(spec, XSS)
    run = server.wait_run(run_id, timeout=120)
    assert run["state"] == "SUCCEEDED", run
    return {"run_id": run_id, "pipeline_id": pipeline["pipeline_id"]}


def assert_inert(page: Any, blocked_ok: bool = False) -> None:
    page.wait_for_timeout(300)  # an onerror fires once the broken image fails to load
    assert page.evaluate("() => window.__xss") is None, "script from user text ran"
    assert page.locator(INJECTED).count() == 0, page.locator(INJECTED).first.evaluate(
        "e => e.outerHTML"
    )
    # Chromium logs each script a sandboxed frame refused: expected for the HTML artifact.
    errors = [e for e in page.errors if not (blocked_ok and "Blocked script execution" in e)]
    assert not errors, errors


def test_pipeline_name_is_text(session_page: Any, server: LiveServer, xss_run: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/pipelines")
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert_inert(page)
    page.goto(f"{server.url}/#/pipelines/{xss_run['pipeline_id']}")
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert_inert(page)


def test_run_name_is_text(session_page: Any, server: LiveServer, xss_run: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs")
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert_inert(page)
    page.goto(f"{server.url}/#/runs/{xss_run['run_id']}")
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert_inert(page)


def test_log_line_is_text(session_page: Any, server: LiveServer, xss_run: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{xss_run['run_id']}?task=shout&tab=logs")
    line = page.get_by_text("log says <b>bold</b>", exact=False).first
    expect(line).to_be_visible()
    expect(line).to_contain_text("<script>window.__xss=1</script>")
    assert_inert(page)


def test_markdown_artifact_is_inert(session_page: Any, server: LiveServer, xss_run: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{xss_run['run_id']}?task=markdown-report&tab=viz")
    expect(page.get_by_text("Report heading").first).to_be_visible()
    expect(page.get_by_text("click me").first).to_be_visible()
    # The harmless link stays a link; the javascript: one must not be a live link.
    for link in page.locator("#app a").all():
        href = (link.get_attribute("href") or "").strip().lower()
        assert not href.startswith(("javascript:", "data:", "vbscript:")), href
    assert_inert(page)


def test_html_artifact_runs_its_scripts_in_an_opaque_origin(
    session_page: Any, server: LiveServer, xss_run: dict
) -> None:
    """An HTML report's scripts run (Plotly/Bokeh-style reports work), but in a frame sandboxed
    without allow-same-origin, served with a CSP sandbox: it cannot reach the dashboard."""
    page = session_page
    page.goto(f"{server.url}/#/runs/{xss_run['run_id']}?task=html-report&tab=viz")
    frame_element = page.locator("#app iframe").first
    expect(frame_element).to_be_attached()
    sandbox = (frame_element.get_attribute("sandbox") or "").split()
    assert "allow-scripts" in sandbox, sandbox
    assert "allow-same-origin" not in sandbox, sandbox
    src = frame_element.get_attribute("src") or ""
    assert src.endswith("/render"), src
    frame = frame_element.element_handle().content_frame()
    assert frame is not None
    expect(frame.get_by_text("HTML artifact")).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('#app iframe').contentWindow !== null", timeout=5000
    )
    assert frame.evaluate("() => document.title") == "ran", "the report's script did not run"
    color = frame.evaluate("() => getComputedStyle(document.querySelector('h1')).color")
    assert color == "rgb(200, 0, 0)", "the report's own styles were dropped"
    assert frame.evaluate("() => self.origin") == "null", "the frame is not an opaque origin"
    assert frame.evaluate(
        "() => { try { return document.cookie } catch (e) { return 'denied' } }"
    ) in (
        "",
        "denied",
    )
    # Opened on its own, the document is still sandboxed by its CSP.
    answer = page.context.request.get(server.url + src if src.startswith("/") else src)
    csp = answer.headers["content-security-policy"]
    assert "sandbox allow-scripts" in csp and "allow-same-origin" not in csp, csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__xss") is None, "the report reached the dashboard"
    assert page.locator(INJECTED).count() == 0
