"""Routes without authentication: health check and login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ... import __version__
from ..auth import context
from ..services.accounts import login

router = APIRouter()


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
    username: str
    password: str


@router.post("/apis/pinnace/v1/login")
def login_route(request: Request, body: LoginRequest) -> dict[str, Any]:
    """Check a password; answer a 24-hour API token (the dashboard will use a cookie)."""
    principal, token = login(context(request).backend.metadata, body.username, body.password)
    return {
        "token": token,
        "user": principal.name,
        "namespace": principal.namespace,
        "is_admin": principal.is_admin,
    }
