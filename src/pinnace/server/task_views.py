"""A run's tasks as KFP v2beta1 `run_details` and state histories, from the stored records.

The task tree mirrors what KFP reports: a root DAG task (`task_id` "root") holds the
pipeline's top-level tasks; a sub-DAG or loop holds its tasks, a loop its iterations. Ids are
the tasks' paths in the run (`train`, `for-loop-2[0]/add`), which the artifact routes take.
State histories are rebuilt from the stored times: PENDING at creation, RUNNING when it
started (once per attempt), then the final state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ..model.state import TaskState
from ..stores.base import ArtifactRecord, ExecutionRecord, RunRecord, TaskRecord
from .wire import compact, timestamp

ROOT_TASK_ID = "root"
#: our task states as KFP RuntimeState names (a cache hit is SKIPPED in KFP)
_TASK_STATES = {"CACHED": "SKIPPED", "SKIPPED": "SKIPPED"}


def task_state(state: TaskState) -> str:
    return _TASK_STATES.get(state.value, state.value)


def error_status(message: str | None) -> dict[str, Any] | None:
    """A google.rpc.Status for an error message (code 2: UNKNOWN, as KFP reports failures)."""
    return {"code": 2, "message": message} if message else None


def parent_of(path: str) -> str:
    """The id of the task that holds `path`: a loop holds its iterations `loop[3]`."""
    if path.endswith("]") and "[" in path:
        return path[: path.rindex("[")]
    parent, _, _ = path.rpartition("/")
    return parent or ROOT_TASK_ID


def _status(state: str, when: datetime | None, error: str | None = None) -> dict[str, Any]:
    return compact({"update_time": timestamp(when), "state": state, "error": error_status(error)})


def run_state_history(run: RunRecord) -> list[dict[str, Any]]:
    history = [_status("PENDING", run.created_at)]
    if run.started_at is not None:
        history.append(_status("RUNNING", run.started_at))
    if run.state.value not in ("PENDING", "RUNNING"):
        when = run.finished_at if run.state.terminal else None
        history.append(_status(run.state.value, when or run.started_at or run.created_at, None))
    return history


def _task_history(task: TaskRecord, attempts: list[ExecutionRecord]) -> list[dict[str, Any]]:
    history = []
    for attempt in attempts:
        history.append(_status("RUNNING", attempt.started_at))
        if attempt is not attempts[-1] and attempt.finished_at is not None:
            history.append(_status(task_state(attempt.state), attempt.finished_at, attempt.error))
    if not attempts and task.started_at is not None:
        history.append(_status("RUNNING", task.started_at))
    if task.state.terminal:
        when = task.finished_at or task.started_at
        history.append(_status(task_state(task.state), when, task.error))
    return history


def _artifact_ids(
    artifacts: Mapping[str, Any], by_uri: Mapping[str, str]
) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    for name, items in artifacts.items():
        uris = [str(a.get("uri")) for a in items or () if isinstance(a, Mapping)]
        ids = [by_uri[uri] for uri in uris if uri in by_uri]
        if ids:
            found[name] = {"artifact_ids": ids}
    return found


def run_details(
    run: RunRecord,
    tasks: list[TaskRecord],
    executions: list[ExecutionRecord],
    artifacts: list[ArtifactRecord],
) -> dict[str, Any]:
    """KFP's RunDetails: every task of the run, the root DAG first."""
    attempts: dict[str, list[ExecutionRecord]] = {}
    for execution in executions:  # listed in order: the last attempt is the latest
        attempts.setdefault(execution.task_name, []).append(execution)
    outputs: dict[str, dict[str, list[str]]] = {}
    by_uri: dict[str, str] = {}
    for artifact in artifacts:
        ids = outputs.setdefault(artifact.task_name, {}).setdefault(artifact.output_name, [])
        ids.append(artifact.artifact_id)
        by_uri.setdefault(artifact.uri, artifact.artifact_id)
    children: dict[str, list[str]] = {}
    for task in tasks:
        children.setdefault(parent_of(task.task_name), []).append(task.task_name)
    details = [_root(run, children.get(ROOT_TASK_ID, []), by_uri)]
    for task in tasks:
        produced = outputs.get(task.task_name, {})
        details.append(
            _task(
                run.run_id,
                task,
                attempts.get(task.task_name, []),
                {name: {"artifact_ids": ids} for name, ids in produced.items()},
                _artifact_ids((task.inputs or {}).get("artifacts") or {}, by_uri),
                children.get(task.task_name, []),
            )
        )
    return {"task_details": details}


def _children(paths: Iterable[str]) -> list[dict[str, str]]:
    return [{"task_id": path, "pod_name": path} for path in paths]


def _root(run: RunRecord, children: list[str], by_uri: Mapping[str, str]) -> dict[str, Any]:
    outputs = (run.outputs or {}).get("artifacts") or {}
    return compact(
        {
            "run_id": run.run_id,
            "task_id": ROOT_TASK_ID,
            "display_name": ROOT_TASK_ID,
            "create_time": timestamp(run.created_at),
            "start_time": timestamp(run.started_at),
            "end_time": timestamp(run.finished_at if run.state.terminal else None),
            "state": run.state.value,
            "error": error_status(run.error),
            "outputs": _artifact_ids(outputs, by_uri),
            "state_history": run_state_history(run),
            "child_tasks": _children(children),
        }
    )


def _task(
    run_id: str,
    task: TaskRecord,
    attempts: list[ExecutionRecord],
    outputs: dict[str, Any],
    inputs: dict[str, Any],
    children: list[str],
) -> dict[str, Any]:
    latest = attempts[-1] if attempts else None
    executor = None
    if latest is not None:
        executor = compact(
            {
                "main_job": latest.execution_id,
                "failed_main_jobs": [
                    a.execution_id for a in attempts if a.state is TaskState.FAILED
                ],
            }
        )
    return compact(
        {
            "run_id": run_id,
            "task_id": task.task_name,
            "pod_name": task.task_name,
            "display_name": task.display_name,
            "create_time": timestamp(task.started_at),
            "start_time": timestamp(task.started_at),
            "end_time": timestamp(task.finished_at),
            "state": task_state(task.state),
            "execution_id": latest.execution_id if latest else None,
            "executor_detail": executor,
            "error": error_status(task.error),
            "parent_task_id": parent_of(task.task_name),
            "inputs": inputs,
            "outputs": outputs,
            "state_history": _task_history(task, attempts),
            "child_tasks": _children(children),
        }
    )
