"""Web hardening around every request: Host allowlist, Origin check, security headers.

- `HostCheck`: the Host header must name this server (loopback names by default, more with
  `--allowed-host`), so a page on a DNS-rebound name cannot talk to it (HTTP 400).
- `OriginCheck`: a state-changing request (POST, PUT, PATCH, DELETE) that a browser sends
  from another origin is refused (HTTP 403) whatever its credentials, multipart uploads to a
  `--no-auth` server included. Clients that are not browsers send no Origin and pass.
- `SecurityHeaders`: `X-Content-Type-Options: nosniff` (and no framing, no referrer
  leaks) on every response, errors included.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from . import problems

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: the names every server answers to: a browser only sends these for a loopback server
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"same-origin"),
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_name(netloc: str) -> str:
    """ "example.org:8888" → "example.org"; "[::1]:80" → "::1"; lowercased."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    if netloc.count(":") == 1:
        return netloc.split(":", 1)[0]
    return netloc


def allowed_host_set(extra: Iterable[str] = (), bind_host: str | None = None) -> frozenset[str]:
    """The Host names a server answers to: loopback, the `extra` names (`*` means any) and
    the address it binds when that is a specific one."""
    names = {*LOOPBACK_HOSTS, *(host_name(h) for h in extra if h.strip())}
    if bind_host and bind_host not in ("0.0.0.0", "::", ""):
        names.add(host_name(bind_host))
    return frozenset(names)


def _is_allowed(host: str, allowed: frozenset[str]) -> bool:
    if "*" in allowed or host in allowed:
        return True
    if host.startswith("*."):
        return False
    for name in allowed:
        if name.startswith("*.") and host.endswith(name[1:]):
            return True
    try:
        return ipaddress.ip_address(host).is_loopback and "localhost" in allowed
    except ValueError:
        return False


class HostCheck:
    """Answer 400 to requests whose Host header is not one of `allowed` (see above)."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = host_name(_header(scope, b"host") or "")
            if not _is_allowed(host, self.allowed):
                response = problems.problem(
                    400,
                    3,
                    f"this server does not answer to the host name {host[:100]!r}",
                    "start the server with --allowed-host NAME for each name it is reached by",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def trusted_origins(extra: Iterable[str]) -> frozenset[str]:
    """Origin host names trusted besides the request's own Host: the names given with
    `--allowed-host` (a proxy in front may rewrite Host); never loopback names or `*`."""
    return frozenset(host_name(h) for h in extra if h.strip() and "*" not in h)


class OriginCheck:
    """Refuse (403) unsafe requests that a browser sends from another origin."""

    def __init__(self, app: ASGIApp, trusted: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method", "GET") in _UNSAFE:
            reason = cross_origin_reason(scope, self.trusted)
            if reason:
                response = problems.problem(
                    403,
                    7,
                    f"cross-origin request refused: {reason}",
                    "use the dashboard served by this server, or a client that is not a browser",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def cross_origin_reason(scope: Scope, trusted: frozenset[str] = frozenset()) -> str | None:
    """Why an unsafe request comes from another origin, or None when it does not."""
    origin = _header(scope, b"origin")
    host = (_header(scope, b"host") or "").strip().lower()
    if origin is not None:
        parts = urlsplit(origin.strip().lower())
        if origin.strip().lower() == "null" or not parts.netloc:
            return "the request has an opaque Origin"
        netloc = parts.netloc
        default = {"http": ":80", "https": ":443"}.get(parts.scheme, "")
        same = netloc in (host, host + default) or netloc + default == host
        if not same and host_name(netloc) not in trusted:
            return f"Origin {origin[:100]!r} is not this server"
        return None
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {fetch_site[:30]!r}"
    return None


class SecurityHeaders:
    """Add nosniff and the other always-on headers to every response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {key.lower() for key, _ in headers}
                headers.extend((k, v) for k, v in _HEADERS if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
