"""Records as KFP v2beta1 JSON (snake_case, enum names, int64 as strings, RFC 3339 times)."""

from __future__ import annotations

from typing import Any

from ..stores.base import (
    ArtifactRecord,
    ExecutionRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RunRecord,
    TaskRecord,
)
from .wire import compact, timestamp

#: our task states as KFP RuntimeState names (a cache hit is SKIPPED in KFP)
_TASK_STATES = {"CACHED": "SKIPPED", "SKIPPED": "SKIPPED"}


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


def _error(message: str | None) -> dict[str, Any] | None:
    return {"code": 2, "message": message} if message else None


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
            "error": _error(record.error),
            "recurring_run_id": record.recurring_run_id,
            "run_details": details,
        }
    )


def run_details(
    record: RunRecord,
    tasks: list[TaskRecord],
    executions: list[ExecutionRecord],
    artifacts: list[ArtifactRecord],
) -> dict[str, Any]:
    latest: dict[str, ExecutionRecord] = {}
    for execution in executions:
        latest[execution.task_name] = execution  # listed in order: the last attempt wins
    outputs: dict[str, dict[str, list[str]]] = {}
    for artifact in artifacts:
        ids = outputs.setdefault(artifact.task_name, {}).setdefault(artifact.output_name, [])
        ids.append(artifact.artifact_id)
    return {
        "task_details": [
            _task(record.run_id, t, latest.get(t.task_name), outputs.get(t.task_name, {}))
            for t in tasks
        ]
    }


def _task(
    run_id: str, task: TaskRecord, execution: ExecutionRecord | None, outputs: dict[str, list[str]]
) -> dict[str, Any]:
    parent, _, _ = task.task_name.rpartition("/")
    return compact(
        {
            "run_id": run_id,
            "task_id": task.task_name,
            "pod_name": task.task_name,
            "display_name": task.display_name,
            "create_time": timestamp(task.started_at),
            "start_time": timestamp(task.started_at),
            "end_time": timestamp(task.finished_at),
            "state": _TASK_STATES.get(task.state.value, task.state.value),
            "execution_id": execution.execution_id if execution else None,
            "error": _error(task.error),
            "parent_task_id": parent or None,
            "outputs": {name: {"artifact_ids": ids} for name, ids in outputs.items()},
        }
    )


def recurring_run(record: RecurringRunRecord) -> dict[str, Any]:
    schedule = compact(
        {"start_time": timestamp(record.start_time), "end_time": timestamp(record.end_time)}
    )
    if record.cron:
        trigger = {"cron_schedule": {**schedule, "cron": record.cron}}
    else:
        trigger = {
            "periodic_schedule": {**schedule, "interval_second": str(record.interval_seconds)}
        }
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
            "trigger": trigger,
            "mode": "ENABLE" if record.enabled else "DISABLE",
            "status": "ENABLED" if record.enabled else "DISABLED",
            "no_catchup": record.no_catchup or None,
            "created_at": timestamp(record.created_at),
            "updated_at": timestamp(record.updated_at),
        }
    )
