"""The caller's own account: their API tokens (list, create, revoke) and their password."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ...errors import UserInputError
from ...stores.base import ApiTokenRecord
from ..auth import context, current_principal
from ..errors import AuthenticationError
from ..services import accounts
from ..services.accounts import Principal

router = APIRouter(prefix="/apis/pinnace/v1")
Caller = Depends(current_principal)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(default="", max_length=200)
    #: "90m", "12h", "30d", "2w" or "never"; default 90 days
    expires_in: str | None = Field(default=None, max_length=16)


class PasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


def _user(principal: Principal) -> str:
    if principal.namespace is None and principal.name == accounts.ANONYMOUS_ADMIN.name:
        raise UserInputError(
            "this server runs without accounts (--no-auth): there are no tokens to manage"
        )
    return principal.name


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def token_view(record: ApiTokenRecord) -> dict[str, Any]:
    """A token as the API shows it: never the token or its hash."""
    return {
        "token_id": record.token_id,
        "description": record.description,
        "created_at": _iso(record.created_at),
        "last_used_at": _iso(record.last_used_at),
        "expires_at": _iso(record.expires_at),
        "session": record.description == "login",
    }


@router.get("/tokens")
def list_my_tokens(request: Request, principal: Principal = Caller) -> dict[str, Any]:
    store = context(request).backend.metadata
    return {"tokens": [token_view(t) for t in accounts.list_tokens(store, _user(principal))]}


@router.post("/tokens")
def create_my_token(
    request: Request, body: TokenBody, principal: Principal = Caller
) -> dict[str, Any]:
    """A new token for the caller; the answer is the only time it is shown."""
    store = context(request).backend.metadata
    name = _user(principal)
    token, record = accounts.issue_token(
        store,
        name,
        description=body.description,
        expires_in=accounts.parse_lifetime(body.expires_in),
    )
    return {"token": token, **token_view(record)}


@router.delete("/tokens/{token_id}")
def revoke_my_token(request: Request, token_id: str, principal: Principal = Caller) -> Any:
    accounts.revoke_token_id(
        context(request).backend.metadata, token_id, user_name=_user(principal)
    )
    return {}


@router.post("/password")
def change_my_password(
    request: Request, body: PasswordBody, principal: Principal = Caller
) -> dict[str, Any]:
    """Change the caller's password (the old one is checked, and throttled like a login);
    every login session ends, this one included; API tokens stay."""
    ctx = context(request)
    name = _user(principal)
    address = request.client.host if request.client else ""
    ctx.throttle.check(name, address)
    try:
        accounts.login_check(ctx.backend.metadata, name, body.old_password)
    except AuthenticationError:
        ctx.throttle.failed(name, address)
        raise
    ended = accounts.set_password(ctx.backend.metadata, name, body.new_password)
    return {"sessions_ended": ended}
