"""The dashboard's mount: the page, its assets, their headers, /me, and the path prefix."""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from pinnace.server import ServerOptions, create_app
from pinnace.settings import Settings
from pinnace.ui import CSP, STATIC_DIR, asset_table

PASSWORD = "ui-test-password"


@contextmanager
def _live(home: Path, *, path_prefix: str = "", auth: bool = True) -> Iterator[str]:
    settings = Settings.load(env={}, home=str(home), use_current_python=True, parallelism=2)
    options = ServerOptions.load(
        env={"PINNACE_ADMIN_PASSWORD": PASSWORD}, auth=auth, path_prefix=path_prefix
    )
    app = create_app(settings, options)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}{path_prefix}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _live(tmp_path_factory.mktemp("ui-home")) as base:
        yield base


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _live(tmp_path_factory.mktemp("ui-prefix"), path_prefix="/pipeline") as base:
        yield base


def _raw_get(base: str, path: str) -> int:
    """GET a path exactly as written (httpx would remove the dot segments first)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_index_is_served_with_a_strict_csp(url: str) -> None:
    response = httpx.get(url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    assert '<script type="module" src="static/app.js"></script>' in page
    # No inline script or style: the CSP would block them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page and "style=" not in page
    assert httpx.get(url + "/index.html").text == page


@pytest.mark.parametrize(
    ("asset", "kind"),
    [
        ("app.js", "text/javascript"),
        ("graph.js", "text/javascript"),
        ("pages/pipelines.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_have_their_content_types(url: str, asset: str, kind: str) -> None:
    response = httpx.get(f"{url}/static/{asset}")
    assert response.status_code == 200, asset
    assert response.headers["content-type"].startswith(kind)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC_DIR / asset).read_bytes()
    # A second load revalidates cheaply.
    again = httpx.get(f"{url}/static/{asset}", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_unknown_assets_and_traversal_are_refused(url: str) -> None:
    assert httpx.get(url + "/static/nope.js").status_code == 404
    assert httpx.get(url + "/static/").status_code == 404
    assert httpx.get(url + "/nope.html").status_code == 404
    for path in (
        "/static/../__init__.py",
        "/static/../../server/app.py",
        "/static/%2e%2e/__init__.py",
        "/static/..%2f__init__.py",
        "/static//etc/passwd",
        "/static/pages/../../__init__.py",
    ):
        status = _raw_get(url, path)
        assert status in (400, 404), (path, status)
    assert httpx.post(url + "/static/app.js").status_code == 405


def test_every_shipped_file_is_an_asset_and_nothing_else(url: str) -> None:
    table = asset_table()
    assert "index.html" in table and "app.js" in table
    assert all(path.resolve().is_relative_to(STATIC_DIR.resolve()) for path in table.values())


def test_me_requires_credentials(url: str) -> None:
    refused = httpx.get(url + "/apis/pinnace/v1/me")
    assert refused.status_code == 401 and refused.json()["code"] == 16
    browser = httpx.Client(base_url=url)
    login = browser.post(
        "/apis/pinnace/v1/login",
        json={"username": "admin", "password": PASSWORD, "session": True},
    )
    assert login.status_code == 200
    me = browser.get("/apis/pinnace/v1/me")
    assert me.status_code == 200
    assert me.json() == {"user": "admin", "namespace": "admin", "is_admin": True}


def test_api_errors_stay_json_problems(url: str) -> None:
    # The UI's routes come after the API's: an unknown API path is still a KFP-style 404.
    response = httpx.get(url + "/apis/v2beta1/nothing-here")
    assert response.status_code in (401, 404)
    assert "code" in response.json()


def test_the_page_works_under_a_path_prefix(prefixed: str) -> None:
    redirect = httpx.get(prefixed, follow_redirects=False)
    assert redirect.status_code in (307, 308)
    assert redirect.headers["location"] == "/pipeline/"
    page = httpx.get(prefixed + "/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    # Asset URLs are relative, so they resolve under the prefix.
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert not ref.startswith(("/", "http")), ref
        assert httpx.get(f"{prefixed}/{ref}").status_code == 200, ref
    assert httpx.get(prefixed + "/apis/pinnace/v1/me").status_code == 401


def _js_modules() -> list[Path]:
    return sorted(STATIC_DIR.rglob("*.js"))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(
    "module", _js_modules(), ids=lambda p: p.relative_to(STATIC_DIR).as_posix()
)
def test_every_js_module_parses(module: Path) -> None:
    # .mjs-style check: the dashboard's files are ES modules.
    result = subprocess.run(
        ["node", "--check", "--input-type=module"],
        input=module.read_text(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
