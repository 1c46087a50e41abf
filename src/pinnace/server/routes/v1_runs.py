"""KFP v1beta1 routes for runs, jobs (recurring runs) and reading artifacts (kfp 1.8's client)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request

from ...errors import UserInputError
from ...stores.base import ListQuery, Predicate
from .. import wire_v1 as v1
from ..auth import context, current_principal
from ..context import ServerContext
from ..services import recurring as jobs_svc
from ..services import runs as svc
from ..services.accounts import Principal
from ..services.artifacts import read_artifact_tarball, run_metrics
from ..services.common import visible_namespaces
from ..services.experiments import get_experiment
from ..wire import KfpBody, list_response
from ..workflow_manifest import workflow_manifest
from . import fields
from . import runs as v2_runs
from .bodies import Trigger
from .v1_catalog import V1List, V1Listed, V1ResourceReference, references

router = APIRouter(prefix="/apis/v1beta1")
Caller = Depends(current_principal)


class V1Parameter(KfpBody):
    name: str | None = None
    value: str | None = None


class V1RuntimeConfig(KfpBody):
    parameters: dict[str, Any] | None = None
    pipeline_root: str | None = None


class V1PipelineSpec(KfpBody):
    pipeline_id: str | None = None
    pipeline_name: str | None = None
    workflow_manifest: str | None = None
    pipeline_manifest: str | None = None
    parameters: list[V1Parameter] | None = None
    runtime_config: V1RuntimeConfig | None = None


class V1Run(KfpBody):
    """KFP's v1 Run; output-only fields are accepted and ignored."""

    id: str | None = None
    name: str | None = None
    storage_state: str | None = None
    description: str | None = None
    pipeline_spec: V1PipelineSpec | None = None
    resource_references: list[V1ResourceReference] | None = None
    service_account: str | None = None
    created_at: str | None = None
    scheduled_at: str | None = None
    finished_at: str | None = None
    status: str | None = None
    error: str | None = None
    metrics: list[Any] | None = None


class V1Job(KfpBody):
    """KFP's v1 Job (a recurring run)."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    pipeline_spec: V1PipelineSpec | None = None
    resource_references: list[V1ResourceReference] | None = None
    service_account: str | None = None
    max_concurrency: int | str | None = None
    trigger: Trigger | None = None
    mode: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    status: str | None = None
    error: str | None = None
    enabled: bool | None = None
    no_catchup: bool | None = None


def _spec_and_parameters(
    ctx: ServerContext,
    principal: Principal,
    spec: V1PipelineSpec | None,
    refs: list[V1ResourceReference] | None,
) -> tuple[dict[str, Any], Any, dict[str, Any], v1.References]:
    spec = spec or V1PipelineSpec()
    found = references(refs)
    ir, version = svc.resolve_v1_spec(
        ctx,
        principal,
        workflow_manifest=spec.workflow_manifest,
        pipeline_manifest=spec.pipeline_manifest,
        pipeline_id=spec.pipeline_id or found.pipeline_id,
        pipeline_version_id=found.pipeline_version_id,
    )
    parameters = v1.parameters_from_list(p.model_dump() for p in spec.parameters or ())
    if spec.runtime_config and spec.runtime_config.parameters:
        parameters.update(spec.runtime_config.parameters)
    return ir, version, parameters, found


def _run_detail(ctx: ServerContext, record: Any) -> dict[str, Any]:
    tasks = ctx.backend.metadata.list_tasks(record.run_id)
    return {
        "run": v1.run(record, run_metrics(ctx, record.run_id)),
        "pipeline_runtime": {"workflow_manifest": workflow_manifest(record, tasks)},
    }


@router.post("/runs")
def create_run(request: Request, body: V1Run, principal: Principal = Caller) -> dict[str, Any]:
    ctx = context(request)
    spec, version, parameters, refs = _spec_and_parameters(
        ctx, principal, body.pipeline_spec, body.resource_references
    )
    record = svc.create_run(
        ctx,
        principal,
        display_name=body.name or "",
        description=body.description or "",
        experiment_id=refs.experiment_id,
        spec=spec,
        version=version,
        parameters=parameters,
    )
    return _run_detail(ctx, record)


def _scope(
    ctx: ServerContext, principal: Principal, ref_type: str | None, ref_id: str | None
) -> tuple[tuple[Predicate, ...], frozenset[str | None] | None]:
    """The experiment filter and namespaces a v1 list call's resource reference asks for."""
    if ref_type == v1.EXPERIMENT and ref_id:
        get_experiment(ctx.backend.metadata, principal, ref_id)  # 404 if not visible
        return (Predicate("experiment_id", "eq", ref_id),), visible_namespaces(principal, None)
    if ref_type not in (None, "", v1.NAMESPACE, v1.EXPERIMENT):
        raise UserInputError(f"cannot list by a {ref_type} reference", hint="use EXPERIMENT")
    namespace = ref_id if ref_type == v1.NAMESPACE and ref_id else None
    return (), visible_namespaces(principal, namespace)


def _scoped_query(
    ctx: ServerContext,
    principal: Principal,
    call: V1List,
    field_map: Mapping[str, str],
    time_fields: frozenset[str],
) -> ListQuery:
    """A v1 list call's query: its page, filter and sort, scoped by its resource reference."""
    extra, namespaces = _scope(ctx, principal, call.ref_type, call.ref_id)
    return call.listing.query(
        fields=field_map, time_fields=time_fields, extra=extra, namespaces=namespaces
    )


@router.get("/runs")
def list_runs(
    request: Request, call: V1List = V1Listed, principal: Principal = Caller
) -> dict[str, Any]:
    ctx = context(request)
    query = _scoped_query(ctx, principal, call, fields.RUN, fields.RUN_TIMES)
    page = svc.list_runs(ctx, query)
    # As KFP 1.x, listed runs carry their metrics (to compare runs by them).
    runs = [v1.run(r, run_metrics(ctx, r.run_id)) for r in page.records]
    return list_response("runs", runs, query.offset, page.total, omit_zero=True)


@router.get("/runs/{run_id}")
def get_run(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    ctx = context(request)
    return _run_detail(ctx, svc.get_run(ctx, principal, run_id))


# The same calls as v2beta1's, some under v1's other paths: one handler serves both.
router.delete("/runs/{run_id}")(v2_runs.delete_run)
router.post("/runs/{run_id}:archive")(v2_runs.archive_run)
router.post("/runs/{run_id}:unarchive")(v2_runs.unarchive_run)
router.post("/runs/{run_id}/terminate")(v2_runs.terminate_run)
router.post("/runs/{run_id}/retry")(v2_runs.retry_run)


@router.get("/runs/{run_id}/nodes/{node_id:path}/artifacts/{artifact_name}:read")
def read_run_artifact(
    request: Request, run_id: str, node_id: str, artifact_name: str, principal: Principal = Caller
) -> dict[str, Any]:
    """The output `artifact_name` of task `node_id` (a node id of the run's workflow
    manifest) as a gzipped tarball, base64-encoded, as KFP 1.x answers."""
    data = read_artifact_tarball(context(request), principal, run_id, node_id, artifact_name)
    return {"data": base64.b64encode(data).decode()}


@router.post("/jobs")
def create_job(request: Request, body: V1Job, principal: Principal = Caller) -> dict[str, Any]:
    ctx = context(request)
    spec, version, parameters, refs = _spec_and_parameters(
        ctx, principal, body.pipeline_spec, body.resource_references
    )
    request_body = {
        "display_name": body.name,
        "description": body.description,
        "experiment_id": refs.experiment_id,
        "runtime_config": {"parameters": parameters},
        "max_concurrency": body.max_concurrency,
        "trigger": body.trigger.model_dump(exclude_none=True) if body.trigger else None,
        "mode": "DISABLE" if body.enabled is False else "ENABLE",
        "no_catchup": body.no_catchup,
    }
    if version is not None:
        request_body["pipeline_version_id"] = version.pipeline_version_id
    else:
        request_body["pipeline_spec"] = spec
    record = jobs_svc.create_recurring_run(ctx, principal, request_body)
    return v1.job(record)


@router.get("/jobs")
def list_jobs(
    request: Request, call: V1List = V1Listed, principal: Principal = Caller
) -> dict[str, Any]:
    ctx = context(request)
    query = _scoped_query(ctx, principal, call, fields.RECURRING, fields.RECURRING_TIMES)
    page = jobs_svc.list_recurring_runs(ctx.backend.metadata, query)
    jobs = [v1.job(j) for j in page.records]
    return list_response("jobs", jobs, query.offset, page.total, omit_zero=True)


@router.get("/jobs/{job_id}")
def get_job(request: Request, job_id: str, principal: Principal = Caller) -> dict[str, Any]:
    store = context(request).backend.metadata
    return v1.job(jobs_svc.get_recurring_run(store, principal, job_id))


@router.delete("/jobs/{job_id}")
def delete_job(request: Request, job_id: str, principal: Principal = Caller) -> dict[str, Any]:
    jobs_svc.delete_recurring_run(context(request).backend.metadata, principal, job_id)
    return {}


@router.post("/jobs/{job_id}/enable")
def enable_job(request: Request, job_id: str, principal: Principal = Caller) -> dict[str, Any]:
    jobs_svc.set_enabled(context(request).backend.metadata, principal, job_id, True)
    return {}


@router.post("/jobs/{job_id}/disable")
def disable_job(request: Request, job_id: str, principal: Principal = Caller) -> dict[str, Any]:
    jobs_svc.set_enabled(context(request).backend.metadata, principal, job_id, False)
    return {}
