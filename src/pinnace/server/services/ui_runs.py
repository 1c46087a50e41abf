"""Dashboard reads about whole runs and their neighbours: a run's config, artifact lineage
(multi-hop, inside the artifact's run), namespaces, a recurring run's next fire time, a
pipeline version's graph and what an uploaded package calls itself."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

from ...stores.base import ListQuery, PipelineVersionRecord, RecurringRunRecord, UserRecord
from ..context import ServerContext
from ..wire import timestamp
from .accounts import Principal
from .common import load_visible
from .ui import artifact_view, container_of, find_artifact, get_run, spec_graph
from .ui_graph import spec_tasks, task_spec_at

LINEAGE_HOPS = 6
LINEAGE_NODES = 400


def run_config(ctx: ServerContext, principal: Principal, run_id: str) -> dict[str, Any]:
    """Parameters (given and defaults), caching, and each task's image and resources."""
    run = get_run(ctx, principal, run_id)
    spec = run.spec
    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    tasks = []
    for path, node in spec_tasks(spec):
        if node["kind"] != "task":
            continue
        task_spec = task_spec_at(spec, path) or {}
        container = container_of(spec, task_spec) or {}
        tasks.append(
            {
                "task": path,
                "label": node["label"],
                "caching": (task_spec.get("cachingOptions") or {}).get("enableCache", True),
                "image": container.get("image"),
                "resources": container.get("resources") or {},
                "packages": container.get("packages") or [],
            }
        )
    return {
        "run_id": run.run_id,
        "parameters": run.parameters,
        "declared": {
            name: {
                "type": d.get("parameterType"),
                "default": d.get("defaultValue"),
                "optional": bool(d.get("isOptional")),
            }
            for name, d in declared.items()
        },
        "cache_enabled": run.cache_enabled,
        "pipeline_name": run.pipeline_name,
        "spec": spec,
        "tasks": tasks,
    }


# -- lineage -----------------------------------------------------------------------------------


def lineage(ctx: ServerContext, principal: Principal, artifact_id: str) -> dict[str, Any]:
    """The artifact's lineage graph inside its run, several hops each way:
    artifact → task that read it → artifact it wrote → …, and back to what made it.

    `nodes` are artifacts (`art:<uri>`) and tasks (`task:<path>`), `edges` point along the
    data flow; `producer` and `consumers` name the first hop for a quick read.
    """
    artifact = find_artifact(ctx, principal, artifact_id)
    store = ctx.backend.metadata
    run = store.get_run(artifact.run_id, spec=False)
    tasks = {t.task_name: t for t in store.list_tasks(run.run_id)}
    records = store.list_artifacts(run.run_id)
    by_uri = {a.uri: a for a in records}
    produced: dict[str, str] = {a.uri: a.task_name for a in records}
    reads: dict[str, list[str]] = defaultdict(list)  # uri → tasks reading it
    inputs: dict[str, list[str]] = defaultdict(list)  # task → uris it read
    for task in tasks.values():
        for items in ((task.inputs or {}).get("artifacts") or {}).values():
            for item in items or []:
                uri = item.get("uri") if isinstance(item, Mapping) else None
                if uri:
                    reads[uri].append(task.task_name)
                    inputs[task.task_name].append(uri)
    outputs: dict[str, list[str]] = defaultdict(list)
    for record in records:
        outputs[record.task_name].append(record.uri)

    def art_id(uri: str) -> str:
        return f"art:{uri}"

    nodes: dict[str, dict[str, Any]] = {}
    edges: set[tuple[str, str]] = set()

    def add_art(uri: str, depth: int) -> None:
        record = by_uri.get(uri)
        nodes.setdefault(
            art_id(uri),
            {
                "id": art_id(uri),
                "kind": "artifact",
                "label": record.output_name if record else uri.rpartition("/")[2],
                "type": record.schema_title if record else "",
                "artifact_id": record.artifact_id if record else None,
                "task": record.task_name if record else None,
                "uri": uri,
                "depth": depth,
                "focus": uri == artifact.uri,
            },
        )

    def add_task(path: str, depth: int) -> None:
        task = tasks.get(path)
        nodes.setdefault(
            f"task:{path}",
            {
                "id": f"task:{path}",
                "kind": "task",
                "label": (task.display_name if task else "") or path.rpartition("/")[2],
                "task": path,
                "state": task.state.value if task else "PENDING",
                "depth": depth,
            },
        )

    add_art(artifact.uri, 0)
    queue: deque[tuple[str, int, int]] = deque([(artifact.uri, 0, -1), (artifact.uri, 0, 1)])
    while queue and len(nodes) < LINEAGE_NODES:
        uri, hop, way = queue.popleft()
        if hop >= LINEAGE_HOPS:
            continue
        if way < 0 and uri in produced:  # upstream: who wrote it, and what that task read
            writer = produced[uri]
            add_task(writer, hop - 1)
            edges.add((f"task:{writer}", art_id(uri)))
            for source in inputs.get(writer, []):
                if art_id(source) not in nodes:
                    queue.append((source, hop + 1, -1))
                add_art(source, hop - 2)
                edges.add((art_id(source), f"task:{writer}"))
        if way > 0:  # downstream: who read it, and what those tasks wrote
            for reader in reads.get(uri, []):
                add_task(reader, hop + 1)
                edges.add((art_id(uri), f"task:{reader}"))
                for made in outputs.get(reader, []):
                    if art_id(made) not in nodes:
                        queue.append((made, hop + 1, 1))
                    add_art(made, hop + 2)
                    edges.add((f"task:{reader}", art_id(made)))
    consumers = [
        {
            "run_id": run.run_id,
            "run_name": run.display_name,
            "task": path,
            "state": tasks[path].state.value if path in tasks else "PENDING",
        }
        for path in reads.get(artifact.uri, [])
    ]
    return {
        "artifact": artifact_view(artifact),
        "run": {"run_id": run.run_id, "run_name": run.display_name},
        "producer": {
            "run_id": run.run_id,
            "run_name": run.display_name,
            "task": artifact.task_name,
            "output": artifact.output_name,
        },
        "consumers": consumers,
        "nodes": list(nodes.values()),
        "edges": sorted([a, b] for a, b in edges),
    }


# -- namespaces, schedules, versions -----------------------------------------------------------


def namespaces(ctx: ServerContext, principal: Principal) -> list[str]:
    """The namespaces the caller may pick from: an admin's are every user's, a user's its own."""
    if not principal.is_admin:
        return [principal.namespace] if principal.namespace else []
    users = ctx.backend.metadata.query_records(UserRecord, ListQuery(limit=1000)).records
    found = {u.namespace or u.name for u in users}
    if principal.namespace:
        found.add(principal.namespace)
    return sorted(found)


def recurring_schedule(
    ctx: ServerContext, principal: Principal, recurring_run_id: str
) -> dict[str, Any]:
    """When a recurring run fires next (None when disabled or past its end)."""
    from ..scheduler import next_slot, utc_now

    record = load_visible(ctx.backend.metadata, RecurringRunRecord, recurring_run_id, principal)
    upcoming = None
    if record.enabled:
        after = max(filter(None, [record.last_scheduled_at, utc_now()]))
        upcoming = next_slot(record, after)
    return {
        "recurring_run_id": record.recurring_run_id,
        "enabled": record.enabled,
        "next_fire_at": timestamp(upcoming),
        "last_scheduled_at": timestamp(record.last_scheduled_at),
        "start_time": timestamp(record.start_time),
        "end_time": timestamp(record.end_time),
    }


def version_graph(
    ctx: ServerContext,
    principal: Principal,
    pipeline_id: str,
    version_id: str,
    *,
    artifacts: bool = False,
) -> dict[str, Any]:
    """A pipeline version's graph, group labels readable as on the run page."""
    from .pipelines import get_version

    store = ctx.backend.metadata
    version: PipelineVersionRecord = get_version(store, principal, pipeline_id, version_id)
    return spec_graph(version.spec, artifacts=artifacts)


def package_info(filename: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    """What an uploaded pipeline package calls itself: `{name, description}` from its spec."""
    from .pipelines import read_pipeline_package

    spec = read_pipeline_package(filename, data, max_bytes)
    info = spec.get("pipelineInfo") or {}
    return {
        "name": str(info.get("displayName") or info.get("name") or ""),
        "description": str(info.get("description") or ""),
    }
