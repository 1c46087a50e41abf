"""The account page in Chromium: create a token (shown once), use it, revoke it."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect
from ui_support import LiveServer


def test_own_tokens_are_created_used_and_revoked_from_the_dashboard(
    session_page: Any, server: LiveServer
) -> None:
    page = session_page
    page.goto(f"{server.url}/#/pipelines")
    page.locator(".sidebar a.user-name").click()
    page.wait_for_function("() => location.hash === '#/account'")
    page.locator("input[name=description]").fill("from the browser")
    page.locator("select[name=expires_in]").select_option("30d")
    page.get_by_role("button", name="Create token").click()
    value = page.locator(".token-value")
    expect(value).to_contain_text("pnc_")
    token = value.inner_text().strip()
    bearer = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{server.url}/apis/pinnace/v1/me", headers=bearer)
    assert me.status_code == 200 and me.json()["user"] == "admin"
    row = page.locator("table.tokens tr", has_text="from the browser")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Revoke").click()
    page.locator(".dialog").get_by_role("button", name="Revoke").click()
    expect(page.locator("table.tokens tr", has_text="from the browser")).to_have_count(0)
    gone = httpx.get(
        f"{server.url}/apis/pinnace/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 401
    assert not page.errors, page.errors
