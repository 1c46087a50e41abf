"""Recurring run routes (the records only; a scheduler starts their runs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .. import views
from ..auth import context, current_principal
from ..services import recurring as svc
from ..services.accounts import Principal
from ..services.common import visible_namespaces
from ..wire import KfpBody, ListParams, list_response
from . import fields
from .bodies import RuntimeConfig, Trigger, VersionReference

router = APIRouter(prefix="/apis/v2beta1")
Caller = Depends(current_principal)
Listing = Depends(ListParams)


class RecurringRunBody(KfpBody):
    recurring_run_id: str | None = None
    display_name: str | None = None
    description: str | None = None
    pipeline_version_id: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    pipeline_version_reference: VersionReference | None = None
    runtime_config: RuntimeConfig | None = None
    service_account: str | None = None
    max_concurrency: int | str | None = None
    trigger: Trigger | None = None
    mode: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    status: str | None = None
    error: dict[str, Any] | None = None
    no_catchup: bool | None = None
    namespace: str | None = None
    experiment_id: str | None = None


@router.post("/recurringruns")
def create_recurring_run(
    request: Request, body: RecurringRunBody, principal: Principal = Caller
) -> dict[str, Any]:
    record = svc.create_recurring_run(
        context(request), principal, body.model_dump(exclude_none=True)
    )
    return views.recurring_run(record)


@router.get("/recurringruns")
def list_recurring_runs(
    request: Request,
    listing: ListParams = Listing,
    namespace: str | None = None,
    experiment_id: str | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    from ...stores.base import Predicate

    extra = (Predicate("experiment_id", "eq", experiment_id),) if experiment_id else ()
    query = listing.query(
        fields=fields.RECURRING,
        extra=extra,
        time_fields=fields.RECURRING_TIMES,
        namespaces=visible_namespaces(principal, namespace),
    )
    page = svc.list_recurring_runs(context(request).backend.metadata, query)
    # The proto names this list field in camelCase; KFP's JSON follows it.
    records = [views.recurring_run(r) for r in page.records]
    return list_response("recurringRuns", records, query.offset, page.total, omit_zero=True)


@router.get("/recurringruns/{recurring_run_id}")
def get_recurring_run(
    request: Request, recurring_run_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    return views.recurring_run(svc.get_recurring_run(store, principal, recurring_run_id))


@router.delete("/recurringruns/{recurring_run_id}")
def delete_recurring_run(
    request: Request, recurring_run_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.delete_recurring_run(context(request).backend.metadata, principal, recurring_run_id)
    return {}


@router.post("/recurringruns/{recurring_run_id}:enable")
def enable(
    request: Request, recurring_run_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.set_enabled(context(request).backend.metadata, principal, recurring_run_id, True)
    return {}


@router.post("/recurringruns/{recurring_run_id}:disable")
def disable(
    request: Request, recurring_run_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.set_enabled(context(request).backend.metadata, principal, recurring_run_id, False)
    return {}
