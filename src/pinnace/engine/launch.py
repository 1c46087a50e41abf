"""Turning a bound task into a TaskLaunch: container, executor input in URIs, resources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..executors.base import Resources, TaskLaunch, UpcomingTask
from ..executors.placeholders import resolve_resources
from .plan import PlannedTask

_MEMORY_UNITS = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KI": 2**10,
    "MI": 2**20,
    "GI": 2**30,
    "TI": 2**40,
}
_MEMORY = re.compile(r"^\s*([0-9.]+)\s*([KMGT]I?)?B?\s*$", re.IGNORECASE)


def make_launch(
    *,
    run_id: str,
    task: PlannedTask,
    execution_id: str,
    executor_input: dict[str, Any],
    artifact_root: str,
    log_path: Path,
    attempt: int = 1,
    task_name: str | None = None,
    node_selector: Mapping[str, str] | None = None,
    namespace: str | None = None,
) -> TaskLaunch:
    """`task_name` is the instance's path (defaults to the task's name in its DAG).

    The container's placeholders stay unfilled: the executor fills them once the inputs are
    staged where the execution runs.
    """
    container = task.executor["container"]
    return TaskLaunch(
        run_id=run_id,
        task_name=task_name or task.name,
        execution_id=execution_id,
        image=container.get("image", ""),
        command=tuple(container.get("command", [])),
        args=tuple(container.get("args", [])),
        executor_input=executor_input,
        artifact_root=artifact_root,
        log_path=log_path,
        attempt=attempt,
        node_selector=dict(node_selector or {}),
        namespace=namespace,
        env=_container_env(container),
        resources=parse_resources(
            resolve_resources(container.get("resources", {}), executor_input)
        ),
    )


def upcoming_task(
    *, run_id: str, task: PlannedTask, path: str, namespace: str | None = None
) -> UpcomingTask:
    """What the executor may prepare for `task` before its inputs are known."""
    container = task.executor["container"]
    return UpcomingTask(
        hint=f"{run_id}/{path}",
        run_id=run_id,
        image=container.get("image", ""),
        command=tuple(container.get("command", [])),
        args=tuple(container.get("args", [])),
        env=_container_env(container),
        resources=parse_resources(container.get("resources", {})),
        namespace=namespace,
    )


def _container_env(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in container.get("env", []) if "name" in e}


def parse_resources(resources: Mapping[str, Any]) -> Resources:
    """Read kfp's resource fields (new string forms first, then the older numeric ones)."""
    cpu = resources.get("resourceCpuLimit") or resources.get("cpuLimit")
    memory: int | None = None
    if resources.get("resourceMemoryLimit"):
        memory = parse_memory(str(resources["resourceMemoryLimit"]))
    elif resources.get("memoryLimit"):
        memory = int(float(resources["memoryLimit"]) * 10**9)
    accelerator = resources.get("accelerator", {})
    count = accelerator.get("resourceCount") or accelerator.get("count")
    return Resources(
        cpu_limit=_parse_cpu(cpu) if cpu else None,
        memory_limit_bytes=memory,
        accelerator_type=accelerator.get("resourceType") or accelerator.get("type"),
        accelerator_count=_parse_count(count),
    )


def _parse_count(value: Any) -> int | None:
    """An accelerator count; None where it is not a number yet (a placeholder before binding)."""
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def parse_memory(text: str) -> int | None:
    match = _MEMORY.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _MEMORY_UNITS[(match.group(2) or "").upper()])


def _parse_cpu(value: Any) -> float | None:
    text = str(value)
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None
