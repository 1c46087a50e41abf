"""Browser sessions: the HttpOnly session cookie, the CSRF double submit, logout."""

from __future__ import annotations

import httpx
from server_support import ADMIN_PASSWORD, LiveServer


def _browser_login(server: LiveServer) -> httpx.Client:
    browser = httpx.Client(base_url=server.url)
    response = browser.post(
        "/apis/pinnace/v1/login",
        json={"username": "admin", "password": ADMIN_PASSWORD, "session": True},
    )
    assert response.status_code == 200 and "token" not in response.json()
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("pinnace_session="))
    csrf = next(c for c in cookies if c.startswith("pinnace_csrf="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
    return browser


def test_cookie_session_reads_and_csrf_guards_writes(server: LiveServer) -> None:
    browser = _browser_login(server)
    assert browser.get("/apis/v2beta1/experiments").status_code == 200
    body = {"display_name": "from-the-browser"}
    refused = browser.post("/apis/v2beta1/experiments", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    wrong = browser.post("/apis/v2beta1/experiments", json=body, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    csrf = browser.cookies["pinnace_csrf"]
    created = browser.post("/apis/v2beta1/experiments", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 200, created.text
    # Logout ends the session for good, even for someone who kept the cookie.
    kept = dict(browser.cookies)
    assert (
        browser.post("/apis/pinnace/v1/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    )
    assert "pinnace_session" not in browser.cookies
    replay = httpx.get(f"{server.url}/apis/v2beta1/experiments", cookies=kept)
    assert replay.status_code == 401


def test_bearer_requests_need_no_csrf_header(server: LiveServer, admin_token: str) -> None:
    browser = _browser_login(server)
    response = browser.post(
        "/apis/v2beta1/experiments",
        json={"display_name": "bearer-wins"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 200
