"""What the dashboard reads beyond the KFP API: task details, artifact and execution lists."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import NotFoundError
from ...stores.base import (
    AcrossRuns,
    ArtifactRecord,
    ExecutionRecord,
    RunRecord,
    TaskRecord,
    type_matches,
)
from ..context import ServerContext
from ..wire import compact, timestamp
from .accounts import Principal
from .common import can_see, load_visible, load_visible_run, store_not_found
from .ui_graph import (
    component_of,
    decorated_nodes,
    duration_seconds,
    graph_of,
    readable_input_names,
    spec_tasks,
    task_spec_at,
)


def get_run(ctx: ServerContext, principal: Principal, run_id: str) -> RunRecord:
    """The run, or NotFoundError (404) when it is missing or not the caller's."""
    return load_visible(ctx.backend.metadata, RunRecord, run_id, principal)


def visible_run(ctx: ServerContext, principal: Principal, run_id: str) -> RunRecord:
    """`get_run` without the run's spec: for a check that the caller sees it, or its state."""
    return load_visible_run(ctx.backend.metadata, run_id, principal)


class RunSpecs:
    """Decoded specs of the runs looked at last. A run's spec and namespace never change, and
    a big run's stored spec (about 900 KB for 500 tasks) costs tens of milliseconds to decode:
    the task panel reads it on every click."""

    SIZE = 16

    def __init__(self) -> None:
        self._items: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def spec(self, ctx: ServerContext, principal: Principal, run_id: str) -> dict[str, Any]:
        """The run's spec, if the caller sees the run (NotFoundError otherwise)."""
        with self._lock:
            found = self._items.get(run_id)
            if found is not None:
                self._items.move_to_end(run_id)
        if found is None:
            run = get_run(ctx, principal, run_id)
            with self._lock:
                self._items[run_id] = (run.namespace, run.spec)
                while len(self._items) > self.SIZE:
                    self._items.popitem(last=False)
            return run.spec
        namespace, spec = found
        if not can_see(principal, namespace):
            raise store_not_found(ctx.backend.metadata, RunRecord, run_id)
        return spec


def run_spec(ctx: ServerContext, principal: Principal, run_id: str) -> dict[str, Any]:
    specs = ctx.caches.setdefault("ui.run_specs", RunSpecs())
    assert isinstance(specs, RunSpecs)
    return specs.spec(ctx, principal, run_id)


# -- graphs ------------------------------------------------------------------------------------


def run_graph(
    ctx: ServerContext, principal: Principal, run_id: str, *, artifacts: bool = False
) -> dict[str, Any]:
    """`{run_id, state, nodes: [...], edges: [[from, to], ...]}` for graph.js.

    Nodes are the run's task instances by path (groups too), plus the tasks the spec says
    will come that the engine has not recorded yet (PENDING). Edges come from the spec's
    `dependentTasks` and producer tasks inside each DAG, mapped to instance paths.
    """
    spec = run_spec(ctx, principal, run_id)  # decoded once for the runs looked at last
    run = visible_run(ctx, principal, run_id)
    graph = graph_of(spec, ctx.backend.metadata.list_tasks(run_id), artifacts=artifacts)
    return {"run_id": run.run_id, "state": run.state.value, **graph}


def spec_graph(spec: Mapping[str, Any], *, artifacts: bool = False) -> dict[str, Any]:
    """The graph of a pipeline spec (no states: nothing ran; loops show one body)."""
    graph = graph_of(spec, [], artifacts=artifacts, pending=list(spec_tasks(spec)))
    for node in graph["nodes"]:
        node["state"] = None
    return graph


# -- task details ------------------------------------------------------------------------------


def find_task(ctx: ServerContext, run_id: str, path: str) -> TaskRecord:
    task = ctx.backend.metadata.get_task(run_id, path)
    if task is not None:
        return task
    raise NotFoundError(
        f"run {run_id!r} has no task {path!r}", hint="the run's graph lists its task paths"
    )


def task_details(
    ctx: ServerContext, principal: Principal, run_id: str, path: str
) -> dict[str, Any]:
    """Everything the task panel shows: component, command, environment, attempts, I/O."""
    spec = run_spec(ctx, principal, run_id)
    task = find_task(ctx, run_id, path)
    store = ctx.backend.metadata
    attempts = [e for e in store.list_executions(run_id) if e.task_name == path]
    run_artifacts = store.list_artifacts(run_id)
    artifacts = [a for a in run_artifacts if a.task_name == path]
    task_spec = task_spec_at(spec, path) or {}
    node = decorated_nodes(spec, [task], pending=())[path]
    by_uri = {a.uri: a.artifact_id for a in run_artifacts}
    inputs = _io(task.inputs, [], by_uri)
    error = task.error
    if node["kind"] == "group":
        # A group's inputs are compiler channels: name them as the graph does.
        names = readable_input_names(spec, path)
        inputs["parameters"] = _renamed(inputs["parameters"], names)
        if node.get("group") == "condition" and task.state.value == "SKIPPED":
            error = f"not run: the condition {node['label'].removeprefix('if ')} was false"
    return {
        **node,
        "run_id": run_id,
        "path": path,
        "component": task.component,
        "cached_from": task.cached_from,
        "cache_key": task.cache_key,
        "error": error,
        "attempt_count": task.attempts,
        "container": container_of(spec, task_spec),
        "resources": (container_of(spec, task_spec) or {}).get("resources") or {},
        "environment": attempts[-1].environment if attempts else {},
        "attempts": [execution_view(e) for e in attempts],
        "inputs": inputs,
        "outputs": _io(task.outputs, artifacts, by_uri),
        "caching": (task_spec.get("cachingOptions") or {}).get("enableCache", True),
        "has_log": bool(task.log_path),
    }


def _renamed(values: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    renamed: dict[str, Any] = {}
    for key, value in values.items():
        name = names.get(key, key)
        renamed[key if name in renamed else name] = value
    return renamed


def container_of(spec: Mapping[str, Any], task_spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """Image, command, args, env, resources and packages of a container task."""
    label = component_of(spec, task_spec).get("executorLabel")
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    executor = executors.get(label) if label else None
    if not executor:
        return None
    if "importer" in executor:
        return {"importer": executor["importer"]}
    container = executor.get("container") or {}
    command, args = list(container.get("command") or []), list(container.get("args") or [])
    return compact(
        {
            "image": container.get("image", ""),
            "command": command,
            "args": args,
            "env": container.get("env") or [],
            "resources": container.get("resources") or {},
            "packages": _packages(command, args),
        }
    )


def _packages(command: list[Any], args: list[Any]) -> list[str]:
    from ...envs.commands import recognize_command

    try:
        program = recognize_command(command, args)
    except Exception:  # an odd command is shown as is; packages are a convenience
        return []
    return list(program.packages) if program else []


def execution_view(execution: ExecutionRecord) -> dict[str, Any]:
    return {
        "execution_id": execution.execution_id,
        "run_id": execution.run_id,
        "task": execution.task_name,
        "attempt": execution.attempt,
        "state": execution.state.value,
        "started_at": timestamp(execution.started_at),
        "finished_at": timestamp(execution.finished_at),
        "duration": duration_seconds(
            execution.started_at, execution.finished_at, execution.state.terminal
        ),
        "exit_code": execution.exit_code,
        "error": execution.error,
        "environment": execution.environment,
    }


def artifact_view(artifact: ArtifactRecord) -> dict[str, Any]:
    return {
        "artifact_id": artifact.artifact_id,
        "run_id": artifact.run_id,
        "task": artifact.task_name,
        "name": artifact.output_name,
        "uri": artifact.uri,
        "type": artifact.schema_title,
        "metadata": artifact.metadata,
        "created_at": timestamp(artifact.created_at),
    }


def _io(
    document: Mapping[str, Any], records: list[ArtifactRecord], by_uri: Mapping[str, str]
) -> dict[str, Any]:
    """Parameters as they are; artifacts with their type, metadata and record id (an input's
    is the run's artifact with its URI, so it can be previewed)."""
    # Keyed by (output name, URI); a document item may lack its URI (then nothing matches).
    ids: dict[tuple[str, str | None], str] = {
        (a.output_name, a.uri): a.artifact_id for a in records
    }
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for name, items in (document.get("artifacts") or {}).items():
        artifacts[name] = [
            {
                "artifact_id": ids.get((name, item.get("uri"))) or by_uri.get(str(item.get("uri"))),
                "uri": item.get("uri"),
                "type": (item.get("type") or {}).get("schemaTitle", "system.Artifact"),
                "metadata": item.get("metadata") or {},
            }
            for item in items or []
            if isinstance(item, Mapping)
        ]
    return {"parameters": dict(document.get("parameters") or {}), "artifacts": artifacts}


# -- artifacts and executions across runs ------------------------------------------------------


def _across(
    ctx: ServerContext, principal: Principal, run_id: str | None, **filters: Any
) -> AcrossRuns:
    """The store query over the caller's runs (or one run, checked: 404 when not theirs)."""
    if run_id:
        visible_run(ctx, principal, run_id)
    return AcrossRuns(namespaces=principal.visible(), run_id=run_id or None, **filters)


def list_artifacts(
    ctx: ServerContext,
    principal: Principal,
    *,
    run_id: str | None = None,
    task: str | None = None,
    type: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the artifacts of the caller's runs, newest first, with their run's name,
    and how many match in all; `type` matches the schema title or its end (`Metrics`)."""
    query = _across(
        ctx, principal, run_id, task_name=task or None, schema_type=type or None,
        offset=offset, limit=limit,
    )  # fmt: skip
    page = ctx.backend.metadata.query_artifacts(query)
    return [{**artifact_view(a), "run_name": name} for a, name in page.records], page.total


def list_executions(
    ctx: ServerContext,
    principal: Principal,
    *,
    run_id: str | None = None,
    task: str | None = None,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the executions of the caller's runs, newest first, with their run's name."""
    query = _across(
        ctx, principal, run_id, task_name=task or None, state=state or None,
        offset=offset, limit=limit,
    )  # fmt: skip
    page = ctx.backend.metadata.query_executions(query)
    return [{**execution_view(e), "run_name": name} for e, name in page.records], page.total


def find_artifact(ctx: ServerContext, principal: Principal, artifact_id: str) -> ArtifactRecord:
    """The artifact record by id (one indexed lookup), if its run is the caller's."""
    artifact = ctx.backend.metadata.get_artifact(artifact_id)
    try:
        visible_run(ctx, principal, artifact.run_id)
    except NotFoundError:
        raise NotFoundError(
            f"artifact {artifact_id!r} not found", hint="list artifacts to see which exist"
        ) from None
    return artifact


def run_metrics(
    ctx: ServerContext, principal: Principal, run_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Scalar metrics of each run (its `system.Metrics` artifacts' metadata) by metric name;
    a name two tasks log is prefixed with the task path. Runs not visible are left out."""
    found: dict[str, dict[str, Any]] = {}
    for run_id in list(dict.fromkeys(run_ids))[:200]:
        try:
            visible_run(ctx, principal, run_id)
        except NotFoundError:
            continue
        values: dict[str, Any] = {}
        for artifact in ctx.backend.metadata.list_artifacts(run_id):
            if not type_matches(artifact.schema_title, "system.Metrics"):
                continue
            for name, value in (artifact.metadata or {}).items():
                if name == "display_name" or not isinstance(value, (int, float, str, bool)):
                    continue
                values[f"{artifact.task_name}.{name}" if name in values else name] = value
        found[run_id] = values
    return found
