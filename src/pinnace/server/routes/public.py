"""Routes without authentication (health check, login), logout and who-am-I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ... import __version__
from ..auth import context, current_principal
from ..errors import AuthenticationError
from ..services.accounts import Principal, login, revoke_token
from ..sessions import SESSION_COOKIE, clear_session_cookies, set_session_cookies

router = APIRouter()
Caller = Depends(current_principal)


def _healthz(request: Request) -> dict[str, Any]:
    ctx = context(request)
    return {
        "commit_sha": "",
        "tag_name": __version__,
        "multi_user": ctx.options.auth,
        "pipeline_store": "database",
    }


router.add_api_route("/apis/v2beta1/healthz", _healthz, methods=["GET"])
router.add_api_route("/apis/v1beta1/healthz", _healthz, methods=["GET"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)
    #: a browser login: the token goes only into the HttpOnly cookie, not the JSON answer
    session: bool = False


@router.post("/apis/pinnace/v1/login")
def login_route(request: Request, response: Response, body: LoginRequest) -> dict[str, Any]:
    """Check a password; answer a 24-hour token and set the session and CSRF cookies.

    Failed logins are throttled per user name and per client address (429, Retry-After)."""
    ctx = context(request)
    address = request.client.host if request.client else ""
    ctx.throttle.check(body.username, address)
    try:
        principal, token = login(ctx.backend.metadata, body.username, body.password)
    except AuthenticationError:
        ctx.throttle.failed(body.username, address)
        raise
    ctx.throttle.succeeded(body.username, address)
    set_session_cookies(request, response, token)
    answer = {
        "user": principal.name,
        "namespace": principal.namespace,
        "is_admin": principal.is_admin,
    }
    return answer if body.session else {"token": token, **answer}


@router.post("/apis/pinnace/v1/logout")
def logout_route(
    request: Request, response: Response, principal: Principal = Caller
) -> dict[str, Any]:
    """End the cookie session (its token is deleted) and clear the cookies."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        revoke_token(context(request).backend.metadata, token)
    clear_session_cookies(response)
    return {}


@router.get("/apis/pinnace/v1/me")
def me_route(principal: Principal = Caller) -> dict[str, Any]:
    """Who the caller is (the dashboard shows it; it also tells whether a session is live)."""
    return {
        "user": principal.name,
        "namespace": principal.namespace,
        "is_admin": principal.is_admin,
    }
