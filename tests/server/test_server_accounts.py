"""Accounts: login throttling, token expiry and revocation, passwords, disabled users."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from server_support import LiveServer

from pinnace.cli.main import cli
from pinnace.errors import UserInputError
from pinnace.server.errors import AuthenticationError, TooManyRequestsError
from pinnace.server.services import accounts
from pinnace.server.throttle import LoginThrottle, ThrottlePolicy

LOGIN = "/apis/pinnace/v1/login"


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_locks_after_free_failures_with_growing_delays() -> None:
    clock = FakeClock()
    policy = ThrottlePolicy(free_failures=3, base_seconds=2, max_seconds=60)
    throttle = LoginThrottle(policy, ThrottlePolicy(free_failures=100), clock=clock)
    waits = []
    for _ in range(9):
        throttle.check("alice", "10.0.0.1")  # never locked right after its wait
        throttle.failed("alice", "10.0.0.1")
        try:
            throttle.check("alice", "10.0.0.1")
            waits.append(0)
        except TooManyRequestsError as exc:
            waits.append(exc.retry_after)
            clock.now += exc.retry_after
    assert waits == [0, 0, 0, 2, 4, 8, 16, 32, 60]
    # another user from another address is not affected; success clears the user
    throttle.check("bob", "10.0.0.2")
    throttle.succeeded("alice", "10.0.0.1")
    throttle.failed("alice", "10.0.0.1")
    throttle.check("alice", "10.0.0.1")


def test_throttle_per_address_across_user_names_and_forgets() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(
        ThrottlePolicy(free_failures=100),
        ThrottlePolicy(free_failures=4, forget_seconds=600, max_keys=50),
        clock=clock,
    )
    for i in range(5):
        throttle.failed(f"user{i}", "10.9.9.9")
    with pytest.raises(TooManyRequestsError):
        throttle.check("someone-else", "10.9.9.9")
    clock.now += 601
    throttle.check("someone-else", "10.9.9.9")
    for i in range(200):  # bounded memory: made-up addresses push out old ones
        throttle.failed("x", f"192.0.2.{i}")
    assert len(throttle._addresses._entries) <= 50


def test_login_is_throttled_with_429_and_retry_after(server: LiveServer) -> None:
    server.add_user("victim", "victim-password")
    codes = []
    for _ in range(7):
        response = httpx.post(server.url + LOGIN, json={"username": "victim", "password": "guess"})
        codes.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["code"] == 8
    assert codes[:5] == [401] * 5 and 429 in codes
    # even the right password is refused while locked
    right = httpx.post(
        server.url + LOGIN, json={"username": "victim", "password": "victim-password"}
    )
    assert right.status_code == 429


def test_tokens_expire_and_are_revoked(server: LiveServer) -> None:
    store = server.app.state.ctx.backend.metadata
    accounts.add_user(store, "tok", "tok-password")
    expired = accounts.create_token(store, "tok", expires_in=timedelta(seconds=-1))
    live, record = accounts.issue_token(store, "tok", description="ci")
    url = server.url + "/apis/v2beta1/experiments"
    assert httpx.get(url, headers=h(expired)).status_code == 401
    assert httpx.get(url, headers=h(live)).status_code == 200
    listed = httpx.get(server.url + "/apis/pinnace/v1/tokens", headers=h(live)).json()["tokens"]
    assert {t["token_id"] for t in listed} >= {record.token_id}
    assert all("token" not in t and "token_hash" not in t for t in listed)
    accounts.revoke_token_id(store, record.token_id)
    assert httpx.get(url, headers=h(live)).status_code == 401


def test_own_tokens_from_the_api(server: LiveServer) -> None:
    alice, bob = server.add_user("alice2", "alice-password"), server.add_user("bob2", "bob-pw-123")
    base = server.url + "/apis/pinnace/v1/tokens"
    made = httpx.post(base, json={"description": "laptop", "expires_in": "2h"}, headers=h(alice))
    assert made.status_code == 200, made.text
    token, token_id = made.json()["token"], made.json()["token_id"]
    assert (
        httpx.get(server.url + "/apis/pinnace/v1/me", headers=h(token)).json()["user"] == "alice2"
    )
    default = httpx.post(base, json={}, headers=h(alice)).json()
    assert default["expires_at"] is not None  # the default lifetime is not "never"
    bad = httpx.post(base, json={"expires_in": "forever"}, headers=h(alice))
    assert bad.status_code == 400
    # bob cannot see or revoke alice's token
    assert token_id not in {t["token_id"] for t in httpx.get(base, headers=h(bob)).json()["tokens"]}
    assert httpx.delete(f"{base}/{token_id}", headers=h(bob)).status_code == 404
    assert httpx.delete(f"{base}/{token_id}", headers=h(alice)).status_code == 200
    assert httpx.get(server.url + "/apis/pinnace/v1/me", headers=h(token)).status_code == 401


def test_password_change_ends_sessions_and_checks_the_old_one(server: LiveServer) -> None:
    session = server.add_user("carol", "carol-password")
    url = server.url + "/apis/pinnace/v1/password"
    wrong = httpx.post(
        url, json={"old_password": "nope-nope", "new_password": "new-password"}, headers=h(session)
    )
    assert wrong.status_code == 401
    short = httpx.post(
        url, json={"old_password": "carol-password", "new_password": "short"}, headers=h(session)
    )
    assert short.status_code == 400
    ok = httpx.post(
        url,
        json={"old_password": "carol-password", "new_password": "carol-new-password"},
        headers=h(session),
    )
    assert ok.status_code == 200 and ok.json()["sessions_ended"] >= 1
    assert httpx.get(server.url + "/apis/pinnace/v1/me", headers=h(session)).status_code == 401
    assert server.login("carol", "carol-new-password")


def test_disabled_user_cannot_log_in_and_loses_tokens(server: LiveServer) -> None:
    store = server.app.state.ctx.backend.metadata
    token = server.add_user("dave", "dave-password")
    assert accounts.set_disabled(store, "dave", True) >= 1
    assert httpx.get(server.url + "/apis/pinnace/v1/me", headers=h(token)).status_code == 401
    response = httpx.post(
        server.url + LOGIN, json={"username": "dave", "password": "dave-password"}
    )
    assert response.status_code == 401
    assert response.json()["message"] == "wrong user name or password"  # no hint it exists
    with pytest.raises(UserInputError):
        accounts.create_token(store, "dave")
    accounts.set_disabled(store, "dave", False)
    assert server.login("dave", "dave-password")


def test_the_last_admin_cannot_be_disabled(server: LiveServer) -> None:
    store = server.app.state.ctx.backend.metadata
    with pytest.raises(UserInputError, match="last active admin"):
        accounts.set_disabled(store, "admin", True)
    with pytest.raises(AuthenticationError):
        accounts.login_check(store, "nobody-here", "whatever-pw")


def test_lifetimes() -> None:
    assert accounts.parse_lifetime("90m") == timedelta(minutes=90)
    assert accounts.parse_lifetime("2w") == timedelta(days=14)
    assert accounts.parse_lifetime(None) == timedelta(days=90)
    assert accounts.parse_lifetime("never") is None
    for bad in ("0d", "1y", "-3d", "12", "9999999d"):
        with pytest.raises(UserInputError):
            accounts.parse_lifetime(bad)


def test_cli_users_and_tokens(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]

    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(cli, [*home, *args], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    run("users", "add", "erin", "--password-stdin", stdin="erin-password\n")
    token = run("tokens", "create", "--user", "erin", "--expires", "1h").strip()
    listed = run("tokens", "list", "--user", "erin")
    token_id = listed.splitlines()[1].split()[0]
    assert "erin" in listed and token not in listed
    run("users", "passwd", "erin", "--password-stdin", stdin="erin-password-2\n")
    assert "disabled" in run("users", "disable", "erin") and "disabled" in run("users", "list")
    run("users", "enable", "erin")
    assert runner.invoke(cli, [*home, "tokens", "revoke", token_id]).exit_code != 0  # gone
    token2 = run("tokens", "create", "--user", "erin", "--expires", "never").strip()
    assert token2.startswith("pnc_")
    token_id = run("tokens", "list").splitlines()[1].split()[0]
    assert "revoked" in run("tokens", "revoke", token_id)
    assert "erin" in run("users", "list")
    # the home and the database are private to their owner
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    for db in (tmp_path / "home").glob("*.db*"):
        assert stat.S_IMODE(db.stat().st_mode) == 0o600, db
    bad = runner.invoke(cli, [*home, "tokens", "create", "--user", "erin", "--expires", "soon"])
    assert bad.exit_code == 2 and "invalid token lifetime" in bad.output
