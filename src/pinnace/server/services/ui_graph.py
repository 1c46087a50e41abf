"""Graphs the dashboard draws: a run's tasks (live), a pipeline version's tasks, and lineage.

Group nodes carry readable labels: a condition group shows its condition as a person writes
it (`flip-coin == "heads"`, from the CEL KFP compiles), a loop what it iterates over, and a
loop iteration its item. Artifact nodes (optional) sit between producer and consumer tasks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ...stores.base import TaskRecord
from ..wire import timestamp

CHANNEL = "pipelinechannel--"
#: `inputs.parameter_values['x']`, as KFP's compiler writes a condition's operands
_OPERAND = re.compile(r"inputs\.parameter_values\[\s*(['\"])(.*?)\1\s*\]")
_CAST = re.compile(r"\b(?:int|double|string|bool)\(([^()]*)\)")
_SINGLE_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
ERROR_CHARS = 400


# -- reading the spec --------------------------------------------------------------------------


def parent_path(path: str) -> str | None:
    """`a/b` → `a`; an iteration `loop[2]` → its loop `loop`; a root task → None."""
    prefix, _, last = path.rpartition("/")
    if last.endswith("]") and "[" in last:
        return path[: path.rindex("[")]
    return prefix or None


def aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the engine writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def duration_seconds(
    started: datetime | None, finished: datetime | None, terminal: bool
) -> float | None:
    if started is None:
        return None
    end = finished if (finished is not None and terminal) else datetime.now(timezone.utc)
    return round(max((aware(end) - aware(started)).total_seconds(), 0.0), 3)


def task_spec_at(spec: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The spec of the DAG task an instance path is an instance of (None when unknown)."""
    prefix, _, last = path.rpartition("/")
    dag = dag_of(spec, prefix)
    task = (dag.get("tasks") or {}).get(last.split("[", 1)[0])
    return task if isinstance(task, Mapping) else None


def component_of(spec: Mapping[str, Any], task_spec: Mapping[str, Any]) -> Mapping[str, Any]:
    name = (task_spec.get("componentRef") or {}).get("name", "")
    return (spec.get("components") or {}).get(name) or {}


def dag_of(spec: Mapping[str, Any], instance: str) -> Mapping[str, Any]:
    """The DAG whose tasks are the children of `instance` ("" = the root DAG)."""
    if not instance:
        return (spec.get("root") or {}).get("dag") or {}
    task = task_spec_at(spec, instance)
    return component_of(spec, task).get("dag") or {} if task else {}


def is_group(spec: Mapping[str, Any], task_spec: Mapping[str, Any]) -> bool:
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


def _pending_node(spec: Mapping[str, Any], path: str, child: Mapping[str, Any]) -> dict:
    return {
        "id": path,
        "label": (child.get("taskInfo") or {}).get("name", path.rpartition("/")[2]),
        "kind": "group" if is_group(spec, child) else "task",
        "parent": parent_path(path),
        "state": "PENDING",
        "started_at": None,
        "finished_at": None,
        "duration": None,
        "error": None,
    }


def unrecorded(
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
        for name, child in sorted(((dag_of(spec, instance).get("tasks")) or {}).items()):
            path = f"{instance}/{name}" if instance else name
            if path not in nodes:
                yield path, _pending_node(spec, path, child)


def spec_tasks(spec: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """Every task of a spec as a PENDING node, groups expanded (a pipeline version's graph)."""
    found: dict[str, dict[str, Any]] = {}
    frontier = [""]
    while frontier:
        instance = frontier.pop()
        for name, child in sorted(((dag_of(spec, instance).get("tasks")) or {}).items()):
            path = f"{instance}/{name}" if instance else name
            if path in found or path.count("/") > 20:
                continue
            found[path] = _pending_node(spec, path, child)
            if found[path]["kind"] == "group":
                frontier.append(path)
    return found.items()


# -- readable names ----------------------------------------------------------------------------


def channel_name(name: str, scope: Mapping[str, str]) -> str:
    """What a pipeline channel means to a person: `pipelinechannel--flip-coin-Output` in a
    scope where it is flip-coin's output → `flip-coin`; a loop item → `item`."""
    if name in scope:
        return scope[name]
    base, _, field = name.partition("-subvar-")
    if field and base in scope:
        return f"{scope[base]}.{field}"
    bare = name.removeprefix(CHANNEL)
    if "loop-item" in bare:
        return f"item.{field}" if field else "item"
    return bare


def binding_name(binding: Mapping[str, Any], scope: Mapping[str, str]) -> str:
    """A task input's source in words: a producer's output, an outer input, a constant."""
    if "taskOutputParameter" in binding or "taskOutputArtifact" in binding:
        ref = binding.get("taskOutputParameter") or binding.get("taskOutputArtifact") or {}
        key = ref.get("outputParameterKey") or ref.get("outputArtifactKey") or ""
        producer = str(ref.get("producerTask", ""))
        return producer if key in ("Output", "") else f"{producer}.{key}"
    if "componentInputParameter" in binding:
        return channel_name(str(binding["componentInputParameter"]), scope)
    if "componentInputArtifact" in binding:
        return channel_name(str(binding["componentInputArtifact"]), scope)
    if "runtimeValue" in binding:
        constant = (binding["runtimeValue"] or {}).get("constant")
        return json.dumps(constant)
    return "?"


def inner_scope(task_spec: Mapping[str, Any], scope: Mapping[str, str]) -> dict[str, str]:
    """The names a group's tasks see: each of the group's inputs, named for a person."""
    inputs = task_spec.get("inputs") or {}
    names: dict[str, str] = {}
    for kind in ("parameters", "artifacts"):
        for name, binding in (inputs.get(kind) or {}).items():
            if isinstance(binding, Mapping):
                names[name] = binding_name(binding, scope)
    iterator = task_spec.get("parameterIterator") or task_spec.get("artifactIterator") or {}
    if iterator.get("itemInput"):
        names[str(iterator["itemInput"])] = "item"
    return names


def readable_condition(cel: str, scope: Mapping[str, str]) -> str:
    """`int(inputs.parameter_values['pipelinechannel--n']) > 5` → `n > 5`."""
    text = _OPERAND.sub(lambda m: channel_name(m.group(2), scope), cel)
    for _ in range(3):  # nested casts, innermost first
        text = _CAST.sub(r"\1", text)
    text = _SINGLE_QUOTED.sub(lambda m: json.dumps(m.group(1)), text)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!\s*\(", "not (", text)
    return re.sub(r"\s+", " ", text).strip()


def group_info(task_spec: Mapping[str, Any], scope: Mapping[str, str]) -> dict[str, Any]:
    """`{group, label}` for a condition or loop group (group: "condition" / "loop").

    Its condition and loop items name the group's own inputs, seen from `scope` outside it.
    """
    scope = {**scope, **inner_scope(task_spec, scope)}
    condition = (task_spec.get("triggerPolicy") or {}).get("condition")
    iterator = task_spec.get("parameterIterator") or task_spec.get("artifactIterator")
    if iterator:
        items = iterator.get("items") or {}
        if "raw" in items:
            source = str(items["raw"])
        else:
            channel = items.get("inputParameter") or items.get("inputArtifact") or ""
            source = channel_name(str(channel), scope)
        return {"group": "loop", "label": f"for each in {source}"}
    if condition:
        return {"group": "condition", "label": f"if {readable_condition(str(condition), scope)}"}
    return {"group": "dag", "label": None}


def item_label(index: str, item: Any) -> str:
    """An iteration's label: `item 0: "a"` (clipped)."""
    shown = json.dumps(item, separators=(", ", ": ")) if item is not None else ""
    if len(shown) > 40:
        shown = shown[:39] + "…"
    return f"#{index}: {shown}" if shown else f"#{index}"


# -- the run graph -----------------------------------------------------------------------------


class _Scopes:
    """Readable channel names per group instance path, computed on demand from the spec."""

    def __init__(self, spec: Mapping[str, Any], roots: Mapping[str, str]) -> None:
        self.spec = spec
        self.cache: dict[str, dict[str, str]] = {"": dict(roots)}

    def of(self, instance: str) -> dict[str, str]:
        """The scope inside group instance `instance` ("" = the root DAG)."""
        if instance in self.cache:
            return self.cache[instance]
        outer = self.of(parent_path(instance) or "")
        if instance.endswith("]"):  # an iteration sees what its loop sees
            scope = outer
        else:
            scope = inner_scope(task_spec_at(self.spec, instance) or {}, outer)
        self.cache[instance] = scope
        return scope


def readable_input_names(spec: Mapping[str, Any], path: str) -> dict[str, str]:
    """A group instance's input channels by the names a person reads (`base`, `item`)."""
    scopes = _Scopes(spec, root_scope(spec))
    names = scopes.of(path)
    if path.endswith("]"):
        loop = task_spec_at(spec, path) or {}
        iterator = loop.get("parameterIterator") or loop.get("artifactIterator") or {}
        if iterator.get("itemInput"):
            names = {**names, str(iterator["itemInput"]): "item"}
    return names


def root_scope(spec: Mapping[str, Any]) -> dict[str, str]:
    inputs = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    return {name: name for name in inputs}


def decorate(
    node: dict[str, Any], spec: Mapping[str, Any], scopes: _Scopes, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Add `group`, a readable `label` and (iterations) `item` to a graph node in place."""
    path = node["id"]
    if node["kind"] != "group":
        return node
    outer = scopes.of(parent_path(path) or "")
    if path.endswith("]"):
        loop = task_spec_at(spec, path) or {}
        iterator = loop.get("parameterIterator") or loop.get("artifactIterator") or {}
        index = path[path.rindex("[") + 1 : -1]
        item = inputs.get(str(iterator.get("itemInput", "")))
        node.update(group="iteration", label=item_label(index, item), item=item)
        return node
    info = group_info(task_spec_at(spec, path) or {}, outer)
    if info["group"] == "dag" and re.fullmatch(r"condition-branches-\d+", path.rpartition("/")[2]):
        info = {"group": "branches", "label": "if / elif / else"}
    node["group"] = info["group"]
    if info["label"]:
        node["title"] = node["label"]
        node["label"] = info["label"]
    return node


def task_node(spec: Mapping[str, Any], task: TaskRecord) -> dict[str, Any]:
    """One node of the graph (also what the event stream sends when a task changes)."""
    task_spec = task_spec_at(spec, task.task_name) or {}
    error = (task.error or "").strip()
    return {
        "id": task.task_name,
        "label": task.display_name or task.task_name.rpartition("/")[2],
        "kind": "group" if is_group(spec, task_spec) else "task",
        "parent": parent_path(task.task_name),
        "state": task.state.value,
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "duration": duration_seconds(task.started_at, task.finished_at, task.state.terminal),
        "error": error[:ERROR_CHARS] if error else None,
    }


def decorated_nodes(
    spec: Mapping[str, Any],
    tasks: Iterable[TaskRecord],
    pending: Iterable[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Nodes of the recorded tasks plus those to come (`pending`, or what the spec promises
    inside what has started), with readable group labels."""
    scopes = _Scopes(spec, root_scope(spec))
    nodes: dict[str, dict[str, Any]] = {}
    items: dict[str, Mapping[str, Any]] = {}
    for task in tasks:
        nodes[task.task_name] = task_node(spec, task)
        if task.task_name.endswith("]"):
            items[task.task_name] = (task.inputs or {}).get("parameters") or {}
    for path, node in list(pending if pending is not None else unrecorded(spec, nodes)):
        nodes.setdefault(path, node)
    for path, node in nodes.items():
        decorate(node, spec, scopes, items.get(path, {}))
    return nodes


def artifact_nodes(
    spec: Mapping[str, Any], nodes: Mapping[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[list[str]], set[tuple[str, str]]]:
    """Output artifacts of the task nodes as nodes of their own, producer → artifact →
    consumer; answers (nodes, edges, the task→task pairs now drawn through an artifact)."""
    added: list[dict[str, Any]] = []
    edges: list[list[str]] = []
    through: set[tuple[str, str]] = set()
    for path, node in nodes.items():
        if node["kind"] != "task":
            continue
        task = task_spec_at(spec, path) or {}
        outputs = (component_of(spec, task).get("outputDefinitions") or {}).get("artifacts") or {}
        for name, definition in outputs.items():
            art = f"{path}::{name}"
            title = ((definition or {}).get("artifactType") or {}).get("schemaTitle", "")
            added.append(
                {
                    "id": art,
                    "label": name,
                    "kind": "artifact",
                    "type": title,
                    "parent": node["parent"],
                    "state": node["state"],
                    "producer": path,
                }
            )
            edges.append([path, art])
    by_id = {n["id"] for n in added}
    for path, node in nodes.items():
        if node["kind"] != "task":
            continue
        prefix = path.rpartition("/")[0]
        bindings = ((task_spec_at(spec, path) or {}).get("inputs") or {}).get("artifacts") or {}
        for binding in bindings.values():
            ref = (binding or {}).get("taskOutputArtifact") or {}
            producer = ref.get("producerTask")
            if not producer:
                continue
            source = f"{prefix}/{producer}" if prefix else producer
            art = f"{source}::{ref.get('outputArtifactKey', '')}"
            if art in by_id:
                edges.append([art, path])
                through.add((source, path))
    return added, edges, through


def graph_of(
    spec: Mapping[str, Any],
    tasks: Iterable[TaskRecord],
    *,
    artifacts: bool = False,
    pending: Iterable[tuple[str, dict]] | None = None,
) -> dict[str, Any]:
    """`{nodes, edges}`: recorded tasks, the tasks still to come, edges between siblings."""
    nodes = decorated_nodes(spec, tasks, pending)
    edges = [
        [source, path]
        for path in nodes
        for source in _upstream_paths(spec, path)
        if source in nodes
    ]
    listed = list(nodes.values())
    if artifacts:
        added, art_edges, through = artifact_nodes(spec, nodes)
        # A data dependency through an artifact is drawn through the artifact's node.
        edges = [e for e in edges if (e[0], e[1]) not in through]
        listed += added
        edges += art_edges
    return {"nodes": listed, "edges": edges}
