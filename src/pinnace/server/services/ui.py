"""What the dashboard reads beyond the KFP API: a run's graph, task details, artifact lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ...errors import NotFoundError
from ...stores.base import (
    ArtifactRecord,
    ExecutionRecord,
    ListQuery,
    RunRecord,
    TaskRecord,
)
from ..context import ServerContext
from ..wire import compact, timestamp
from .accounts import Principal
from .common import load_visible

#: how many of the newest runs the cross-run lists (artifacts, executions, lineage) look at
SCAN_RUNS = 500


def get_run(ctx: ServerContext, principal: Principal, run_id: str) -> RunRecord:
    """The run, or NotFoundError (404) when it is missing or not the caller's."""
    return load_visible(ctx.backend.metadata, RunRecord, run_id, principal)


# -- the graph ---------------------------------------------------------------------------------


def run_graph(ctx: ServerContext, principal: Principal, run_id: str) -> dict[str, Any]:
    """`{run_id, state, nodes: [...], edges: [[from, to], ...]}` for graph.js.

    Nodes are the run's task instances by path (groups too), plus the tasks the spec says
    will come that the engine has not recorded yet (PENDING). Edges come from the spec's
    `dependentTasks` and producer tasks inside each DAG, mapped to instance paths.
    """
    run = get_run(ctx, principal, run_id)
    tasks = ctx.backend.metadata.list_tasks(run_id)
    nodes = {t.task_name: task_node(run.spec, t) for t in tasks}
    for path, node in _unrecorded(run.spec, nodes):
        nodes[path] = node
    edges = [
        [source, path]
        for path in nodes
        for source in _upstream_paths(run.spec, path)
        if source in nodes
    ]
    return {
        "run_id": run.run_id,
        "state": run.state.value,
        "nodes": list(nodes.values()),
        "edges": edges,
    }


def task_node(spec: Mapping[str, Any], task: TaskRecord) -> dict[str, Any]:
    """One node of the graph (also what the event stream sends when a task changes)."""
    task_spec = task_spec_at(spec, task.task_name) or {}
    return {
        "id": task.task_name,
        "label": task.display_name or task.task_name.rpartition("/")[2],
        "kind": "group" if _is_group(spec, task_spec) else "task",
        "parent": parent_path(task.task_name),
        "state": task.state.value,
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "duration": duration_seconds(task.started_at, task.finished_at, task.state.terminal),
    }


def parent_path(path: str) -> str | None:
    """`a/b` → `a`; an iteration `loop[2]` → its loop `loop`; a root task → None."""
    prefix, _, last = path.rpartition("/")
    if last.endswith("]") and "[" in last:
        return path[: path.rindex("[")]
    return prefix or None


def duration_seconds(
    started: datetime | None, finished: datetime | None, terminal: bool
) -> float | None:
    if started is None:
        return None
    end = finished if (finished is not None and terminal) else datetime.now(timezone.utc)
    return round(max((_aware(end) - _aware(started)).total_seconds(), 0.0), 3)


def task_spec_at(spec: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The spec of the DAG task an instance path is an instance of (None when unknown)."""
    prefix, _, last = path.rpartition("/")
    dag = _dag_of(spec, prefix)
    task = (dag.get("tasks") or {}).get(last.split("[", 1)[0])
    return task if isinstance(task, Mapping) else None


def component_of(spec: Mapping[str, Any], task_spec: Mapping[str, Any]) -> Mapping[str, Any]:
    name = (task_spec.get("componentRef") or {}).get("name", "")
    return (spec.get("components") or {}).get(name) or {}


def _dag_of(spec: Mapping[str, Any], instance: str) -> Mapping[str, Any]:
    """The DAG whose tasks are the children of `instance` ("" = the root DAG)."""
    if not instance:
        return (spec.get("root") or {}).get("dag") or {}
    task = task_spec_at(spec, instance)
    return component_of(spec, task).get("dag") or {} if task else {}


def _is_group(spec: Mapping[str, Any], task_spec: Mapping[str, Any]) -> bool:
    return "dag" in component_of(spec, task_spec)


def _is_loop(task_spec: Mapping[str, Any]) -> bool:
    return bool(task_spec.get("parameterIterator") or task_spec.get("artifactIterator"))


def _upstream_names(task_spec: Mapping[str, Any]) -> set[str]:
    names = set(task_spec.get("dependentTasks") or [])
    inputs = task_spec.get("inputs") or {}
    for kind, key in (("parameters", "taskOutputParameter"), ("artifacts", "taskOutputArtifact")):
        for binding in (inputs.get(kind) or {}).values():
            producer = (binding.get(key) or {}).get("producerTask")
            if producer:
                names.add(producer)
    return names


def _upstream_paths(spec: Mapping[str, Any], path: str) -> list[str]:
    prefix, _, last = path.rpartition("/")
    if "[" in last:
        return []  # iterations hang off their loop, not off sibling tasks
    task = task_spec_at(spec, path) or {}
    return sorted(f"{prefix}/{name}" if prefix else name for name in _upstream_names(task))


def _unrecorded(
    spec: Mapping[str, Any], nodes: Mapping[str, dict[str, Any]]
) -> Iterable[tuple[str, dict[str, Any]]]:
    """Children the spec promises inside the root and every expanded group, not yet stored.

    A loop's iterations are unknown until it starts, so nothing is guessed for them.
    """
    instances = [""] + [p for p, n in nodes.items() if n["kind"] == "group"]
    for instance in instances:
        task = task_spec_at(spec, instance) if instance else None
        if task is not None and _is_loop(task) and not instance.endswith("]"):
            continue
        for name, child in sorted(((_dag_of(spec, instance).get("tasks")) or {}).items()):
            path = f"{instance}/{name}" if instance else name
            if path in nodes:
                continue
            yield (
                path,
                {
                    "id": path,
                    "label": (child.get("taskInfo") or {}).get("name", name),
                    "kind": "group" if _is_group(spec, child) else "task",
                    "parent": instance or None,
                    "state": "PENDING",
                    "started_at": None,
                    "finished_at": None,
                    "duration": None,
                },
            )


# -- task details ------------------------------------------------------------------------------


def find_task(ctx: ServerContext, run_id: str, path: str) -> TaskRecord:
    for task in ctx.backend.metadata.list_tasks(run_id):
        if task.task_name == path:
            return task
    raise NotFoundError(
        f"run {run_id!r} has no task {path!r}", hint="the run's graph lists its task paths"
    )


def task_details(
    ctx: ServerContext, principal: Principal, run_id: str, path: str
) -> dict[str, Any]:
    """Everything the task panel shows: component, command, environment, attempts, I/O."""
    run = get_run(ctx, principal, run_id)
    task = find_task(ctx, run_id, path)
    store = ctx.backend.metadata
    attempts = [e for e in store.list_executions(run_id) if e.task_name == path]
    artifacts = [a for a in store.list_artifacts(run_id) if a.task_name == path]
    task_spec = task_spec_at(run.spec, path) or {}
    node = task_node(run.spec, task)
    return {
        **node,
        "run_id": run_id,
        "path": path,
        "component": task.component,
        "cached_from": task.cached_from,
        "cache_key": task.cache_key,
        "error": task.error,
        "attempt_count": task.attempts,
        "container": container_of(run.spec, task_spec),
        "resources": (container_of(run.spec, task_spec) or {}).get("resources") or {},
        "environment": attempts[-1].environment if attempts else {},
        "attempts": [execution_view(e) for e in attempts],
        "inputs": _io(task.inputs, []),
        "outputs": _io(task.outputs, artifacts),
        "has_log": bool(task.log_path),
    }


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


def _io(document: Mapping[str, Any], records: list[ArtifactRecord]) -> dict[str, Any]:
    """Parameters as they are; artifacts with their type, metadata and (outputs) record id."""
    # Keyed by (output name, URI); a document item may lack its URI (then nothing matches).
    ids: dict[tuple[str, str | None], str] = {
        (a.output_name, a.uri): a.artifact_id for a in records
    }
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for name, items in (document.get("artifacts") or {}).items():
        artifacts[name] = [
            {
                "artifact_id": ids.get((name, item.get("uri"))),
                "uri": item.get("uri"),
                "type": (item.get("type") or {}).get("schemaTitle", "system.Artifact"),
                "metadata": item.get("metadata") or {},
            }
            for item in items or []
            if isinstance(item, Mapping)
        ]
    return {"parameters": dict(document.get("parameters") or {}), "artifacts": artifacts}


# -- artifacts and executions across runs ------------------------------------------------------


def visible_runs(
    ctx: ServerContext, principal: Principal, run_id: str | None = None
) -> list[RunRecord]:
    """One run (checked), or the newest runs the caller sees."""
    if run_id:
        return [get_run(ctx, principal, run_id)]
    query = ListQuery(limit=SCAN_RUNS, namespaces=principal.visible())
    return ctx.backend.metadata.query_records(RunRecord, query).records


def list_artifacts(
    ctx: ServerContext,
    principal: Principal,
    *,
    run_id: str | None = None,
    task: str | None = None,
    type: str | None = None,
) -> list[dict[str, Any]]:
    """Artifacts of the caller's runs, newest first; `type` matches the schema title's end
    (`Metrics` matches `system.Metrics`)."""
    found = []
    for run in visible_runs(ctx, principal, run_id):
        for artifact in ctx.backend.metadata.list_artifacts(run.run_id):
            if task and artifact.task_name != task:
                continue
            if type and not _type_matches(artifact.schema_title, type):
                continue
            found.append(artifact)
    found.sort(key=lambda a: _aware(a.created_at or _EPOCH), reverse=True)
    return [artifact_view(a) for a in found]


def list_executions(
    ctx: ServerContext,
    principal: Principal,
    *,
    run_id: str | None = None,
    task: str | None = None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    found = []
    for run in visible_runs(ctx, principal, run_id):
        for execution in ctx.backend.metadata.list_executions(run.run_id):
            if task and execution.task_name != task:
                continue
            if state and execution.state.value != state.upper():
                continue
            found.append(execution)
    found.sort(key=lambda e: _aware(e.started_at), reverse=True)
    return [execution_view(e) for e in found]


def find_artifact(ctx: ServerContext, principal: Principal, artifact_id: str) -> ArtifactRecord:
    """The artifact record by id among the caller's runs, or NotFoundError."""
    for run in visible_runs(ctx, principal):
        for artifact in ctx.backend.metadata.list_artifacts(run.run_id):
            if artifact.artifact_id == artifact_id:
                return artifact
    raise NotFoundError(
        f"artifact {artifact_id!r} not found", hint="list artifacts to see which exist"
    )


def lineage(ctx: ServerContext, principal: Principal, artifact_id: str) -> dict[str, Any]:
    """The artifact, the task and run that produced it, and the tasks that read its URI."""
    artifact = find_artifact(ctx, principal, artifact_id)
    store = ctx.backend.metadata
    run = store.get_run(artifact.run_id)
    consumers = []
    for other in visible_runs(ctx, principal):
        for task in store.list_tasks(other.run_id):
            for name, items in ((task.inputs or {}).get("artifacts") or {}).items():
                if any(isinstance(i, Mapping) and i.get("uri") == artifact.uri for i in items):
                    consumers.append(
                        {
                            "run_id": other.run_id,
                            "run_name": other.display_name,
                            "task": task.task_name,
                            "input": name,
                            "state": task.state.value,
                        }
                    )
    return {
        "artifact": artifact_view(artifact),
        "producer": {
            "run_id": run.run_id,
            "run_name": run.display_name,
            "task": artifact.task_name,
            "output": artifact.output_name,
        },
        "consumers": consumers,
    }


def _type_matches(schema_title: str, wanted: str) -> bool:
    wanted = wanted.strip().lower()
    title = schema_title.lower()
    return title == wanted or title.rpartition(".")[2] == wanted


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the engine writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run_metrics(
    ctx: ServerContext, principal: Principal, run_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Scalar metrics of each run (its `system.Metrics` artifacts' metadata) by metric name;
    a name two tasks log is prefixed with the task path. Runs not visible are left out."""
    found: dict[str, dict[str, Any]] = {}
    for run_id in list(dict.fromkeys(run_ids))[:200]:
        try:
            get_run(ctx, principal, run_id)
        except NotFoundError:
            continue
        values: dict[str, Any] = {}
        for artifact in ctx.backend.metadata.list_artifacts(run_id):
            if not _type_matches(artifact.schema_title, "system.Metrics"):
                continue
            for name, value in (artifact.metadata or {}).items():
                if name == "display_name" or not isinstance(value, (int, float, str, bool)):
                    continue
                values[f"{artifact.task_name}.{name}" if name in values else name] = value
        found[run_id] = values
    return found
