"""Downloading a pipeline package from a URL (KFP's `package_url`) without letting a request
make the server reach what it should not: https only on port 443, a host on the allowlist,
public addresses only (checked on the address actually connected to, so DNS cannot change
it in between), no redirects, bounded size and time. The same rules as KFP's own server.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

from ... import __version__
from ...errors import UserInputError
from ..errors import PayloadTooLargeError

#: KFP's default allowlist; PINNACE_PACKAGE_URL_DOMAINS adds more ("*.example.com" allowed)
DEFAULT_DOMAINS = (
    "storage.googleapis.com",
    "s3.amazonaws.com",
    "github.com",
    "raw.githubusercontent.com",
)
TIMEOUT_SECONDS = 30.0
_HINT = "or upload the file with /apis/v2beta1/pipelines/upload(_version)"

Resolver = Callable[..., list[Any]]


def fetch_package(
    url: str,
    *,
    max_bytes: int,
    domains: Iterable[str] = DEFAULT_DOMAINS,
    resolve: Resolver = socket.getaddrinfo,
) -> tuple[str, bytes]:
    """(file name, bytes) of the package at `url`, or a UserInputError saying which rule
    refused it."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https" or not host:
        raise UserInputError(f"package_url {url!r} is not an https URL", hint=_HINT)
    if parts.username or parts.password:
        raise UserInputError("package_url must not hold credentials", hint=_HINT)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port not in (None, 443):
        raise UserInputError(f"package_url must use port 443, not {parts.port}", hint=_HINT)
    if not allowed(host, domains):
        raise UserInputError(
            f"package_url host {host!r} is not on the allowlist",
            hint="an administrator adds hosts with PINNACE_PACKAGE_URL_DOMAINS; " + _HINT,
        )
    connection = _PinnedHttps(host, public_address(host, resolve))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        data = download(connection, path, max_bytes)
    finally:
        connection.close()
    return PurePosixPath(parts.path).name or "pipeline.yaml", data


def allowed(host: str, domains: Iterable[str]) -> bool:
    for domain in domains:
        domain = domain.strip().lower().rstrip(".")
        if domain.startswith("*."):
            if host.endswith(domain[1:]):
                return True
        elif domain and host == domain:
            return True
    return False


def public_address(host: str, resolve: Resolver = socket.getaddrinfo) -> str:
    """The address to connect to; refused when any address of `host` is not public."""
    try:
        infos = resolve(host, 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UserInputError(f"cannot resolve package_url host {host!r}", hint=_HINT) from None
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise UserInputError(
                f"package_url host {host!r} resolves to a non-public address", hint=_HINT
            )
    if not addresses:
        raise UserInputError(f"package_url host {host!r} has no address", hint=_HINT)
    return addresses[0]


def download(connection: http.client.HTTPConnection, path: str, max_bytes: int) -> bytes:
    """GET `path` on an open connection: 200 only (no redirects), at most `max_bytes`."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        connection.request("GET", path, headers={"User-Agent": f"pinnace/{__version__}"})
        response = connection.getresponse()
        if response.status != 200:
            moved = " (redirects are not followed)" if 300 <= response.status < 400 else ""
            raise UserInputError(
                f"downloading the package answered HTTP {response.status}{moved}", hint=_HINT
            )
        chunks, size = [], 0
        while chunk := response.read(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLargeError(f"the package is over {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise UserInputError("downloading the package took too long", hint=_HINT)
            chunks.append(chunk)
    except (OSError, http.client.HTTPException) as exc:
        raise UserInputError(f"cannot download the package: {exc}", hint=_HINT) from None
    return b"".join(chunks)


class _PinnedHttps(http.client.HTTPSConnection):
    """HTTPS to `host` (certificate and SNI) through the already checked `address`."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(host, 443, timeout=TIMEOUT_SECONDS)
        self._address = address
        self._tls = ssl.create_default_context()

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
