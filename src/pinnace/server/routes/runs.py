"""Run routes, and reading a run's artifacts."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Request

from ...stores.base import Predicate
from .. import views
from ..auth import context, current_principal
from ..services import runs as svc
from ..services.accounts import Principal
from ..services.artifacts import read_artifact
from ..services.common import visible_namespaces
from ..services.experiments import get_experiment
from ..wire import KfpBody, ListParams, list_response
from . import fields
from .bodies import RuntimeConfig, VersionReference

router = APIRouter(prefix="/apis/v2beta1")
Caller = Depends(current_principal)
Listing = Depends(ListParams)


class RunBody(KfpBody):
    """KFP's Run message; output-only fields are accepted (the SDK may echo them) and ignored."""

    experiment_id: str | None = None
    run_id: str | None = None
    display_name: str | None = None
    storage_state: str | None = None
    description: str | None = None
    pipeline_version_id: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    pipeline_version_reference: VersionReference | None = None
    runtime_config: RuntimeConfig | None = None
    service_account: str | None = None
    created_at: str | None = None
    scheduled_at: str | None = None
    finished_at: str | None = None
    state: str | None = None
    error: dict[str, Any] | None = None
    run_details: dict[str, Any] | None = None
    recurring_run_id: str | None = None
    state_history: list[Any] | None = None
    plugins_input: dict[str, Any] | None = None


@router.post("/runs")
def create_run(
    request: Request, body: RunBody, experiment_id: str | None = None, principal: Principal = Caller
) -> dict[str, Any]:
    ctx = context(request)
    ref = body.pipeline_version_reference
    spec, version = svc.resolve_spec(
        ctx,
        principal,
        pipeline_spec=body.pipeline_spec,
        version_ref=ref.model_dump() if ref else None,
        pipeline_version_id=body.pipeline_version_id,
    )
    parameters = body.runtime_config.parameters if body.runtime_config else None
    record = svc.create_run(
        ctx,
        principal,
        display_name=body.display_name or "",
        description=body.description or "",
        experiment_id=body.experiment_id or experiment_id,
        spec=spec,
        version=version,
        parameters=parameters,
    )
    return views.run(record)


@router.get("/runs")
def list_runs(
    request: Request,
    listing: ListParams = Listing,
    namespace: str | None = None,
    experiment_id: str | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    ctx = context(request)
    extra: tuple[Predicate, ...] = ()
    scope = visible_namespaces(principal, namespace)
    if experiment_id:
        get_experiment(ctx.backend.metadata, principal, experiment_id)  # 404 if not visible
        extra = (Predicate("experiment_id", "eq", experiment_id),)
    query = listing.query(
        fields=fields.RUN,
        time_fields=fields.RUN_TIMES,
        extra=extra,
        namespaces=scope,
    )
    page = svc.list_runs(ctx, query)
    runs = [views.run(r) for r in page.records]
    return list_response("runs", runs, query.offset, page.total, omit_zero=True)


@router.get("/runs/{run_id}")
def get_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    ctx = context(request)
    record = svc.get_run(ctx, principal, run_id)
    store = ctx.backend.metadata
    details = views.run_details(
        record,
        store.list_tasks(run_id),
        store.list_executions(run_id),
        store.list_artifacts(run_id),
    )
    return views.run(record, details)


@router.delete("/runs/{run_id}")
def delete_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    svc.delete_run(context(request), principal, run_id)
    return {}


@router.post("/runs/{run_id}:terminate")
def terminate_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    svc.terminate_run(context(request), principal, run_id)
    return {}


@router.post("/runs/{run_id}:retry")
def retry_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    svc.retry_run(context(request), principal, run_id)
    return {}


@router.post("/runs/{run_id}:archive")
def archive_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    svc.set_storage_state(context(request), principal, run_id, "ARCHIVED")
    return {}


@router.post("/runs/{run_id}:unarchive")
def unarchive_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    svc.set_storage_state(context(request), principal, run_id, "AVAILABLE")
    return {}


@router.get("/runs/{run_id}/nodes/{node_id:path}/artifacts/{artifact_name}:read")
def read_run_artifact(
    request: Request, run_id: str, node_id: str, artifact_name: str, principal: Principal = Caller
) -> dict[str, Any]:
    data = read_artifact(context(request), principal, run_id, node_id, artifact_name)
    return {"data": base64.b64encode(data).decode()}
