"""Browser sessions: an HttpOnly cookie holding a login token, and CSRF protection.

The session cookie (`pinnace_session`, HttpOnly, SameSite=Strict) carries a 24-hour login
token that is stored hashed like any API token, so logout (deleting it) ends the session
at once. CSRF is a double submit: `pinnace_csrf` is a readable cookie whose value the page
echoes in `X-CSRF-Token` on every state-changing request; the value is derived from the
session token, so it cannot be planted for another session. Bearer-token requests never
look at cookies and need no CSRF header.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from .context import ServerContext
from .errors import PermissionDeniedError
from .services.accounts import Principal, principal_for_token

SESSION_COOKIE = "pinnace_session"
CSRF_COOKIE = "pinnace_csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 24 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(b"pinnace-csrf:" + session_token.encode()).hexdigest()


def cookie_session(request: Request, ctx: ServerContext) -> Principal | None:
    """The authenticator for browser sessions; see the module docstring."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    principal = principal_for_token(ctx.backend.metadata, token)
    if request.method not in _SAFE_METHODS:
        expected = csrf_token(token)
        sent = request.headers.get(CSRF_HEADER, "")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not (hmac.compare_digest(sent, expected) and hmac.compare_digest(cookie, expected)):
            raise PermissionDeniedError(
                "missing or wrong CSRF token",
                hint=f"send the {CSRF_COOKIE} cookie's value in the {CSRF_HEADER} header",
            )
    return principal


def set_session_cookies(request: Request, response: Response, token: str) -> None:
    secure = request.url.scheme == "https"
    common = {"max_age": SESSION_SECONDS, "path": "/", "samesite": "strict", "secure": secure}
    response.set_cookie(SESSION_COOKIE, token, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf_token(token), httponly=False, **common)  # type: ignore[arg-type]


def clear_session_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")
