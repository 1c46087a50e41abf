"""Runs: create (from a spec or a pipeline version), read, list, terminate, retry, archive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ...engine.lease import request_cancel
from ...errors import SpecError, StoreError, UserInputError
from ...spec.load import load_spec
from ...stores.base import (
    ExperimentRecord,
    ListQuery,
    Page,
    PipelineVersionRecord,
    RunRecord,
)
from ..context import ServerContext
from ..errors import PreconditionError
from .accounts import Principal
from .common import load_visible, load_visible_run, load_writable_run
from .experiments import default_experiment, writable_experiment
from .pipelines import get_pipeline, get_version, latest_version


def resolve_spec(
    ctx: ServerContext,
    principal: Principal,
    *,
    pipeline_spec: Any = None,
    version_ref: Mapping[str, Any] | None = None,
    pipeline_version_id: str | None = None,
) -> tuple[dict[str, Any], PipelineVersionRecord | None]:
    """The IR a run should execute, and the pipeline version it came from (if any)."""
    store = ctx.backend.metadata
    if pipeline_spec is not None:
        if not isinstance(pipeline_spec, Mapping):
            raise SpecError("pipeline_spec must be an object", field="pipeline_spec")
        # The SDK wraps the spec when the YAML also has a platform spec.
        if "pipeline_spec" in pipeline_spec:
            pipeline_spec = pipeline_spec["pipeline_spec"]
        return load_spec(pipeline_spec, path_hint="pipeline_spec").pipeline_spec, None
    if version_ref:
        pipeline_id = str(version_ref.get("pipeline_id") or "")
        pipeline = get_pipeline(store, principal, pipeline_id)
        version_id = version_ref.get("pipeline_version_id")
        version = (
            get_version(store, principal, pipeline.pipeline_id, str(version_id))
            if version_id
            else latest_version(store, pipeline.pipeline_id)
        )
        return version.spec, version
    if pipeline_version_id:
        version = store.get_record(PipelineVersionRecord, pipeline_version_id)
        get_version(store, principal, version.pipeline_id, pipeline_version_id)
        return version.spec, version
    raise UserInputError(
        "a run needs pipeline_spec or pipeline_version_reference",
        hint="kfp.Client().create_run_from_pipeline_package sends pipeline_spec",
    )


def load_manifest(text: Any, field: str) -> dict[str, Any]:
    """A pipeline sent as text (v1's `workflow_manifest` or `pipeline_manifest`): a kfp 1.x
    Argo workflow or a kfp 2.x spec, JSON or YAML; Argo workflows are converted."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{field} must be the pipeline as JSON or YAML text", field=field)
    return load_spec(text.encode(), path_hint=field).pipeline_spec


def resolve_v1_spec(
    ctx: ServerContext,
    principal: Principal,
    *,
    workflow_manifest: str | None,
    pipeline_manifest: str | None,
    pipeline_id: str | None,
    pipeline_version_id: str | None,
) -> tuple[dict[str, Any], PipelineVersionRecord | None]:
    """The spec of a v1 run or job: sent inline, a pipeline version, or a pipeline's latest."""
    if workflow_manifest:
        return load_manifest(workflow_manifest, "pipeline_spec.workflow_manifest"), None
    if pipeline_manifest:
        return load_manifest(pipeline_manifest, "pipeline_spec.pipeline_manifest"), None
    if pipeline_version_id:
        return resolve_spec(ctx, principal, pipeline_version_id=pipeline_version_id)
    if pipeline_id:
        return resolve_spec(ctx, principal, version_ref={"pipeline_id": pipeline_id})
    raise UserInputError(
        "a run needs pipeline_spec.workflow_manifest, a pipeline version or a pipeline",
        hint="kfp.Client().run_pipeline sends the compiled workflow as workflow_manifest",
    )


def create_run(
    ctx: ServerContext,
    principal: Principal,
    *,
    display_name: str,
    description: str = "",
    experiment_id: str | None = None,
    spec: dict[str, Any],
    version: PipelineVersionRecord | None,
    parameters: Mapping[str, Any] | None,
    cache: bool = True,
    recurring_run_id: str | None = None,
    scheduled_at: datetime | None = None,
) -> RunRecord:
    """Check, store and start a run in the caller's namespace.

    `scheduled_at`: the schedule slot of a recurring run; a slot that has a run already is
    refused (StoreError) and the new run is removed again.
    """
    store = ctx.backend.metadata
    experiment = (
        writable_experiment(store, principal, experiment_id)
        if experiment_id
        else default_experiment(store, principal)
    )
    record = ctx.manager.create_run(
        spec,
        dict(parameters or {}),
        cache=cache,
        display_name=display_name or None,
        pipeline_id=version.pipeline_id if version else None,
    )
    try:
        updated = store.update_record(
            RunRecord,
            record.run_id,
            experiment_id=experiment.experiment_id,
            namespace=experiment.namespace,
            description=description,
            pipeline_version_id=version.pipeline_version_id if version else None,
            recurring_run_id=recurring_run_id,
            scheduled_at=scheduled_at,
        )
    except StoreError:
        store.delete_record(RunRecord, record.run_id)
        raise
    record = replace(updated, spec=record.spec)  # a write returns a run without its spec
    store.update_record(
        ExperimentRecord, experiment.experiment_id, last_run_created_at=record.created_at
    )
    ctx.manager.start(record.run_id)
    return record


def get_run(ctx: ServerContext, principal: Principal, run_id: str) -> RunRecord:
    return load_visible(ctx.backend.metadata, RunRecord, run_id, principal)


def visible_run(ctx: ServerContext, principal: Principal, run_id: str) -> RunRecord:
    """`get_run` without the run's spec: for a check that the caller sees it, or its state."""
    return load_visible_run(ctx.backend.metadata, run_id, principal)


def writable_run(ctx: ServerContext, principal: Principal, run_id: str) -> RunRecord:
    """The run, without its spec, when the caller may change it (see `load_writable`)."""
    return load_writable_run(ctx.backend.metadata, run_id, principal)


def list_runs(ctx: ServerContext, query: ListQuery) -> Page:
    return ctx.backend.metadata.query_records(RunRecord, query)


def terminate_run(ctx: ServerContext, principal: Principal, run_id: str) -> None:
    run = writable_run(ctx, principal, run_id)
    if run.state.terminal:
        return
    if ctx.manager.terminate(run_id):
        return
    # Driven by another process (a `pinnace run`, another server): it sees CANCELING at its
    # next lease heartbeat and cancels the run itself; an orphan is canceled when adopted.
    if not request_cancel(ctx.backend.metadata, run_id):
        raise PreconditionError(
            f"run {run_id!r} is {ctx.backend.metadata.get_run(run_id, spec=False).state.value}",
            hint="only a running run can be terminated",
        )


def retry_run(ctx: ServerContext, principal: Principal, run_id: str) -> None:
    """Resume a FAILED or CANCELED run: finished tasks are kept, the rest run again."""
    run = writable_run(ctx, principal, run_id)
    if not run.state.terminal or run.state.value == "SUCCEEDED" or ctx.manager.is_active(run_id):
        raise PreconditionError(
            f"run {run_id!r} is {run.state.value}; only FAILED or CANCELED runs can be retried"
        )
    ctx.manager.start(run_id)


def set_storage_state(ctx: ServerContext, principal: Principal, run_id: str, state: str) -> None:
    writable_run(ctx, principal, run_id)
    ctx.backend.metadata.update_record(RunRecord, run_id, storage_state=state)


def delete_run(ctx: ServerContext, principal: Principal, run_id: str) -> None:
    run = writable_run(ctx, principal, run_id)
    if not run.state.terminal or ctx.manager.is_active(run_id):
        raise PreconditionError(
            f"run {run_id!r} is still {run.state.value}", hint="terminate it first"
        )
    ctx.backend.metadata.delete_record(RunRecord, run_id)
