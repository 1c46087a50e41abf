"""The dashboard: `mount_ui(app, ctx)` serves index.html at `/` and the assets under `/static/`.

The page and its assets hold no data (everything with data comes from the authenticated
API), so they are served without credentials. Only files that ship in `static/` are served:
the list is read once, so no request path can reach anything else.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..server.context import ServerContext

STATIC_DIR = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; frame-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
    # Only this server: a page that ran injected script could not send data elsewhere. (So
    # the dashboard cannot fetch a pipeline "from a URL" elsewhere; the server never does.)
    "connect-src 'self'; "
    "frame-ancestors 'self'; form-action 'self'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


def security_headers() -> dict[str, str]:
    """The headers on every UI response (strict CSP, no MIME sniffing, no framing by others)."""
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "SAMEORIGIN",
    }


def asset_table(root: Path = STATIC_DIR) -> dict[str, Path]:
    """Every shipped asset by its URL path under /static/ ("pages/runs.js" → file)."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def content_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


class UiRoute:
    """A Starlette route for `/`, `/index.html` and `/static/<asset>` (GET and HEAD).

    It is not an API route (no `methods`): the server's route table lists only the API.
    """

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root
        self._assets: dict[str, Path] | None = None

    @property
    def assets(self) -> dict[str, Path]:
        if self._assets is None:
            self._assets = asset_table(self.root)
        return self._assets

    def target(self, path: str) -> str | None:
        """The asset a route path names ("index.html" for the page), or None."""
        if path in ("", "/", "/index.html"):
            return "index.html"
        if path.startswith("/static/"):
            return path[len("/static/") :]
        return None

    # Starlette's BaseRoute protocol, kept small on purpose.
    def matches(self, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        from starlette.routing import Match

        if scope["type"] != "http" or self.target(_route_path(scope)) is None:
            return Match.NONE, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **params: Any) -> Any:
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, params)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        response = self.respond(scope)
        await response(scope, receive, send)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.handle(scope, receive, send)

    def respond(self, scope: dict[str, Any]) -> Any:
        from starlette.responses import RedirectResponse, Response

        headers = security_headers()
        path = _route_path(scope)
        if path == "":
            # "/prefix" → "/prefix/", so the page's relative asset URLs resolve under it.
            return RedirectResponse(scope.get("root_path", "") + "/", headers=headers)
        if scope["method"] not in ("GET", "HEAD"):
            return Response(status_code=405, headers={**headers, "Allow": "GET, HEAD"})
        name = self.target(path) or ""
        file = self.assets.get(name)
        if file is None:
            return Response("not found", status_code=404, media_type="text/plain", headers=headers)
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        # Revalidate every time: a local server answers a 304 in well under a millisecond,
        # and an upgraded package never leaves a stale page behind.
        headers.update({"ETag": etag, "Cache-Control": "no-cache"})
        request_headers = dict(scope.get("headers") or [])
        if request_headers.get(b"if-none-match", b"").decode() == etag:
            return Response(status_code=304, headers=headers)
        if scope["method"] == "HEAD":
            body = b""
        return Response(body, media_type=content_type(file), headers=headers)


def _route_path(scope: dict[str, Any]) -> str:
    """The request path without the server's path prefix (as Starlette's routing sees it)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


def mount_ui(app: FastAPI, ctx: ServerContext | None = None) -> None:
    """Serve the dashboard from `app` (call after the API routers: they take precedence)."""
    app.router.routes.append(UiRoute())  # type: ignore[arg-type]
