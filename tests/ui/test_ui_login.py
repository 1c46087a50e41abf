"""The dashboard shell in Chromium: the login form, a wrong password, sign-out, the CSP."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect
from ui_support import LiveServer, form_login


def test_login_form_signs_in_and_out(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.url}/#/runs")
    # No session: the dashboard sends the browser to the login form.
    page.wait_for_function("() => location.hash.startsWith('#/login')")
    form_login(page, server)
    page.wait_for_function("() => !location.hash.startsWith('#/login')")
    expect(page.locator(".sidebar .user-name")).to_have_text("admin")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = [c for c in cookies.values() if c["httpOnly"]]
    assert session, f"no HttpOnly session cookie: {list(cookies)}"
    page.locator(".sign-out").click()
    page.wait_for_function("() => location.hash.startsWith('#/login')")
    page.goto(f"{server.url}/#/pipelines")
    page.wait_for_function("() => location.hash.startsWith('#/login')")
    assert not page.errors, page.errors


def test_wrong_password_is_refused_with_a_message(page: Any, server: LiveServer) -> None:
    form_login(page, server, password="not-the-password")
    expect(page.locator(".login-message")).to_contain_text("Wrong user name or password")
    assert page.evaluate("location.hash").startswith("#/login")


def test_the_page_is_served_with_a_strict_csp(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}/")
    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_a_narrow_window_folds_the_sidebar_behind_a_menu_button(
    page: Any, server: LiveServer
) -> None:
    page.set_viewport_size({"width": 420, "height": 800})
    form_login(page, server)
    page.wait_for_function("() => !location.hash.startsWith('#/login')")
    nav = page.locator(".sidebar .nav")
    expect(nav).to_be_hidden()
    page.locator(".menu-toggle").click()
    expect(nav).to_be_visible()
    nav.get_by_text("Pipelines").click()
    page.wait_for_function("() => location.hash.startsWith('#/pipelines')")
    # Nothing is wider than the window: no sideways scrolling of the page itself.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
