"""Records as KFP v2beta1 JSON (snake_case, enum names, int64 as strings, RFC 3339 times)."""

from __future__ import annotations

from typing import Any

from ..stores.base import (
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RunRecord,
)
from .task_views import error_status, run_details, run_state_history
from .wire import compact, timestamp, trigger

__all__ = [
    "experiment",
    "pipeline",
    "pipeline_version",
    "recurring_run",
    "run",
    "run_details",
]


def pipeline(record: PipelineRecord) -> dict[str, Any]:
    return compact(
        {
            "pipeline_id": record.pipeline_id,
            "name": record.name,
            "display_name": record.display_name or record.name,
            "description": record.description,
            "created_at": timestamp(record.created_at),
            "namespace": record.namespace,
        }
    )


def pipeline_version(record: PipelineVersionRecord, *, with_spec: bool = True) -> dict[str, Any]:
    return compact(
        {
            "pipeline_id": record.pipeline_id,
            "pipeline_version_id": record.pipeline_version_id,
            "name": record.name,
            "display_name": record.display_name or record.name,
            "description": record.description,
            "created_at": timestamp(record.created_at),
            "code_source_url": record.code_source_url,
            "pipeline_spec": record.spec if with_spec else None,
        }
    )


def experiment(record: ExperimentRecord) -> dict[str, Any]:
    return compact(
        {
            "experiment_id": record.experiment_id,
            "display_name": record.name,
            "description": record.description,
            "created_at": timestamp(record.created_at),
            "namespace": record.namespace,
            "storage_state": record.storage_state,
            "last_run_created_at": timestamp(record.last_run_created_at),
        }
    )


def run(record: RunRecord, details: dict[str, Any] | None = None) -> dict[str, Any]:
    version_ref = None
    if record.pipeline_version_id:
        version_ref = compact(
            {"pipeline_id": record.pipeline_id, "pipeline_version_id": record.pipeline_version_id}
        )
    return compact(
        {
            "run_id": record.run_id,
            "display_name": record.display_name,
            "experiment_id": record.experiment_id,
            "storage_state": record.storage_state,
            "description": record.description,
            "namespace": record.namespace,
            "pipeline_version_reference": version_ref,
            "pipeline_spec": None if version_ref else record.spec,
            "runtime_config": compact({"parameters": record.parameters}),
            "created_at": timestamp(record.created_at),
            "scheduled_at": timestamp(
                record.scheduled_at or record.started_at or record.created_at
            ),
            "finished_at": timestamp(record.finished_at if record.state.terminal else None),
            "state": record.state.value,
            "error": error_status(record.error),
            "recurring_run_id": record.recurring_run_id,
            "run_details": details,
            "state_history": run_state_history(record) if details is not None else None,
        }
    )


def recurring_run(record: RecurringRunRecord) -> dict[str, Any]:
    version_ref = (
        compact(
            {"pipeline_id": record.pipeline_id, "pipeline_version_id": record.pipeline_version_id}
        )
        if record.pipeline_version_id
        else None
    )
    return compact(
        {
            "recurring_run_id": record.recurring_run_id,
            "display_name": record.name,
            "description": record.description,
            "experiment_id": record.experiment_id,
            "namespace": record.namespace,
            "pipeline_version_reference": version_ref,
            "pipeline_spec": record.spec or None,
            "runtime_config": compact({"parameters": record.parameters}),
            "max_concurrency": str(record.max_concurrency),
            "trigger": trigger(record),
            "mode": "ENABLE" if record.enabled else "DISABLE",
            "status": "ENABLED" if record.enabled else "DISABLED",
            "no_catchup": record.no_catchup or None,
            "created_at": timestamp(record.created_at),
            "updated_at": timestamp(record.updated_at),
        }
    )
