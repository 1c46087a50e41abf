"""Downloading a package_url: which URLs are refused, and the download itself."""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from pinnace.errors import UserInputError
from pinnace.server.errors import PayloadTooLargeError
from pinnace.server.services.package_url import allowed, download, fetch_package


def resolver(*addresses: str):
    def resolve(host: str, port: int, **_: object) -> list[tuple]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


PUBLIC = resolver("140.82.112.3")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://github.com/p.yaml", "https"),
        ("file:///etc/passwd", "https"),
        ("https://user:pw@github.com/p.yaml", "credentials"),
        ("https://github.com:8443/p.yaml", "port 443"),
        ("https://example.com/p.yaml", "allowlist"),
        ("https://github.com.evil.test/p.yaml", "allowlist"),
    ],
)
def test_refused_urls(url: str, words: str) -> None:
    with pytest.raises(UserInputError, match=words):
        fetch_package(url, max_bytes=1000, resolve=PUBLIC)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "0.0.0.0"])
def test_allowlisted_hosts_with_private_addresses_are_refused(address: str) -> None:
    with pytest.raises(UserInputError, match="non-public"):
        fetch_package("https://github.com/p.yaml", max_bytes=1000, resolve=resolver(address))


def test_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(UserInputError, match="non-public"):
        fetch_package(
            "https://github.com/p.yaml",
            max_bytes=1000,
            resolve=resolver("140.82.112.3", "192.168.1.1"),
        )


def test_allowlist_patterns() -> None:
    domains = ["github.com", "*.example.org"]
    assert allowed("github.com", domains) and allowed("a.b.example.org", domains)
    assert not allowed("example.org.evil.test", domains) and not allowed("gitHub.co", domains)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1/elsewhere")
            self.end_headers()
            return
        if self.path == "/missing":
            self.send_error(404)
            return
        body = b"x" * (5000 if self.path == "/big" else 10)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _get(port: int, path: str, max_bytes: int = 1000) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        return download(connection, path, max_bytes)
    finally:
        connection.close()


def test_download_reads_the_body(origin: int) -> None:
    assert _get(origin, "/p.yaml") == b"x" * 10


def test_download_follows_no_redirect(origin: int) -> None:
    with pytest.raises(UserInputError, match="redirects are not followed"):
        _get(origin, "/moved")


def test_download_refuses_errors_and_big_files(origin: int) -> None:
    with pytest.raises(UserInputError, match="HTTP 404"):
        _get(origin, "/missing")
    with pytest.raises(PayloadTooLargeError):
        _get(origin, "/big", max_bytes=1000)
