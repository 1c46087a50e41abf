"""`/metrics` (Prometheus text format) for admins: runs by state, queue depth, task and
request durations. Scrape it with an admin API token (`Authorization: Bearer`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from ..auth import context, current_principal
from ..errors import PermissionDeniedError
from ..services.accounts import Principal

router = APIRouter()
Caller = Depends(current_principal)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics")
def metrics(request: Request, principal: Principal = Caller) -> PlainTextResponse:
    if not principal.is_admin:
        # Counts cover every namespace, so only admins read them.
        raise PermissionDeniedError("only an admin may read /metrics", hint="use an admin's token")
    ctx = context(request)
    assert ctx.metrics is not None
    return PlainTextResponse(ctx.metrics.render(ctx), media_type=CONTENT_TYPE)
