"""Who is calling: the authenticators tried for each request, and the route dependency.

Authenticators run in order; each returns a Principal, None (not my kind of credentials)
or raises AuthenticationError (my kind, but wrong). Bearer tokens come first (a request
with one never looks at cookies), then the dashboard's cookie session (`sessions.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from .context import ServerContext
from .errors import AuthenticationError
from .services.accounts import ANONYMOUS_ADMIN, Principal, principal_for_token

Authenticator = Callable[[Request, ServerContext], "Principal | None"]


def bearer_token(request: Request, ctx: ServerContext) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    return principal_for_token(ctx.backend.metadata, token.strip())


def _cookie_session(request: Request, ctx: ServerContext) -> Principal | None:
    from .sessions import cookie_session

    return cookie_session(request, ctx)


DEFAULT_AUTHENTICATORS: tuple[Authenticator, ...] = (bearer_token, _cookie_session)


def context(request: Request) -> ServerContext:
    return request.app.state.ctx


def current_principal(request: Request) -> Principal:
    """The route dependency: every route but healthz and login depends on it."""
    ctx = context(request)
    if not ctx.options.auth:
        return ANONYMOUS_ADMIN
    for authenticate in request.app.state.authenticators:
        principal = authenticate(request, ctx)
        if principal is not None:
            request.state.principal = principal
            return principal
    raise AuthenticationError(
        "authentication required",
        hint="send 'Authorization: Bearer <token>' (create one with `pinnace tokens create`)",
    )
