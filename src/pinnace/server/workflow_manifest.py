"""A run as the Argo `Workflow` status document kfp 1.x reads from a v1 run's
`pipeline_runtime.workflow_manifest`: phase, times and one node per task with its inputs,
outputs and children, the shape kfp 1.8's clients and notebooks walk (`status.nodes`).

Pinnace runs no Argo; the document is rebuilt from the stored run and task records. Node ids
are the task paths (`train`, `for-loop-2[0]/add`), which the v1 artifact route takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..stores.base import RunRecord, TaskRecord
from .task_views import ROOT_TASK_ID, parent_of
from .wire import compact, timestamp

#: task states as Argo node phases (a cache hit is a succeeded node, as in kfp 1.x)
_PHASES = {
    "PENDING": "Pending",
    "RUNNING": "Running",
    "SUCCEEDED": "Succeeded",
    "CACHED": "Succeeded",
    "FAILED": "Failed",
    "SKIPPED": "Skipped",
    "CANCELED": "Failed",
    "CANCELING": "Running",
}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _parameters(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"name": name, "value": _text(value)} for name, value in values.items()]


def _artifacts(artifacts: Mapping[str, Any]) -> list[dict[str, Any]]:
    listed = []
    for name, items in artifacts.items():
        for item in items or ():
            if isinstance(item, Mapping):
                listed.append({"name": name, "uri": item.get("uri")})
    return listed


def _io(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    data = data or {}
    return (
        compact(
            {
                "parameters": _parameters(data.get("parameters") or {}),
                "artifacts": _artifacts(data.get("artifacts") or {}),
            }
        )
        or None
    )


def workflow_name(run: RunRecord) -> str:
    name = run.pipeline_name or "pipeline"
    return f"{name}-{run.run_id[:8]}"


def workflow_manifest(run: RunRecord, tasks: list[TaskRecord]) -> str:
    """The run as Argo Workflow JSON (a string, as the v1 API carries it)."""
    root = workflow_name(run)
    children: dict[str, list[str]] = {}
    for task in tasks:
        parent = parent_of(task.task_name)
        children.setdefault(root if parent == ROOT_TASK_ID else parent, []).append(task.task_name)
    nodes = {root: _root_node(run, root, children.get(root, []))}
    for task in tasks:
        nodes[task.task_name] = _node(task, root, children.get(task.task_name))
    document = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": root,
            "uid": run.run_id,
            "creationTimestamp": timestamp(run.created_at),
            "labels": {"pipeline/runid": run.run_id},
        },
        "spec": {
            "entrypoint": run.pipeline_name,
            "arguments": {"parameters": _parameters(run.parameters)},
        },
        "status": compact(
            {
                "phase": _PHASES.get(run.state.value, "Running"),
                "startedAt": timestamp(run.started_at or run.created_at),
                "finishedAt": timestamp(run.finished_at if run.state.terminal else None),
                "message": run.error,
                "nodes": nodes,
                "outputs": _io(run.outputs),
            }
        ),
    }
    return json.dumps(document)


def _root_node(run: RunRecord, root: str, children: list[str]) -> dict[str, Any]:
    return compact(
        {
            "id": root,
            "name": root,
            "displayName": root,
            "type": "DAG",
            "templateName": run.pipeline_name,
            "phase": _PHASES.get(run.state.value, "Running"),
            "startedAt": timestamp(run.started_at or run.created_at),
            "finishedAt": timestamp(run.finished_at if run.state.terminal else None),
            "message": run.error,
            "children": children,
        }
    )


def _node(task: TaskRecord, root: str, children: list[str] | None) -> dict[str, Any]:
    parent = parent_of(task.task_name)
    return compact(
        {
            "id": task.task_name,
            "name": f"{root}.{task.task_name.replace('/', '.')}",
            "displayName": task.display_name,
            "type": "DAG" if children is not None else "Pod",
            "templateName": task.component or task.display_name,
            "phase": _PHASES.get(task.state.value, "Running"),
            "boundaryID": root if parent == ROOT_TASK_ID else parent,
            "startedAt": timestamp(task.started_at),
            "finishedAt": timestamp(task.finished_at),
            "message": task.error,
            "inputs": _io(task.inputs),
            "outputs": _io(task.outputs),
            "children": children,
        }
    )
