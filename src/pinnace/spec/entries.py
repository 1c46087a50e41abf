"""A pipeline spec's entries (components, root tasks, executors) taken one by one, for the
protobuf round trips that would otherwise walk the whole spec at once: a wide pipeline's
entries differ mostly in names, so each distinct entry is converted once.

`skeleton(spec)` is the spec with an empty entry in place of each: its round trip keeps the
maps' keys, in the order of the protobuf maps (the same keys inserted in the same order
iterate in the same order). `template(entry, paths)` puts `NAME` in place of the names at
`paths` (plain string fields, which a round trip writes as they are) and `fill` puts them
back into the round trip of the template.
"""

from __future__ import annotations

from typing import Any

#: the name that templates have in place of a task's, component's or executor's names
NAME = "pinnace-normalized-name"
#: the messages that enclose each kind of entry in the whole spec (protobuf's ParseDict
#: limits the nesting to 100 messages): components[x], root.dag.tasks[x], executors[x]
DEPTH = {"component": 1, "task": 3, "executor": 1}

#: where a task's inputs name the task they come from
_PRODUCERS = (("parameters", "taskOutputParameter"), ("artifacts", "taskOutputArtifact"))

Path = tuple[str, ...]


#: fewer entries than this (a handful of tasks) are quicker converted all at once
FEW = 24


def entries(spec: dict[str, Any]) -> tuple[dict, dict, dict] | None:
    """The components, root tasks and executors of `spec`; None when its shape is unusual
    (then the whole spec is converted at once, and says what is wrong) or when it has fewer
    than `FEW` of them."""
    root: Any = spec.get("root")
    deployment: Any = spec.get("deploymentSpec")
    components: Any = spec.get("components", {})
    dag = root.get("dag") if isinstance(root, dict) else None
    tasks = dag.get("tasks", {}) if isinstance(dag, dict) else {}
    executors = deployment.get("executors") if isinstance(deployment, dict) else None
    if not (isinstance(tasks, dict) and isinstance(components, dict)):
        return None
    if not isinstance(executors, dict):
        return None
    if len(components) + len(tasks) + len(executors) < FEW:
        return None
    return components, tasks, executors


def skeleton(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` (not changed) with `{}` in place of each component, root task and executor;
    call only where `entries(spec)` is not None."""
    copied = dict(spec)
    deployment = spec["deploymentSpec"]
    copied["deploymentSpec"] = {**deployment, "executors": {k: {} for k in deployment["executors"]}}
    if "components" in spec:
        copied["components"] = {key: {} for key in spec["components"]}
    root: Any = spec.get("root")
    dag = root.get("dag") if isinstance(root, dict) else None
    if isinstance(dag, dict) and "tasks" in dag:
        copied["root"] = {**root, "dag": {**dag, "tasks": {key: {} for key in dag["tasks"]}}}
    return copied


def name_paths(kind: str, entry: Any) -> list[Path]:
    """Where an entry of `kind` ("component", "task") holds names: its executor label; its
    task name, component name, dependent tasks and the tasks its inputs come from."""
    if kind == "component":
        return [("executorLabel",)]
    paths: list[Path] = [("taskInfo", "name"), ("componentRef", "name"), ("dependentTasks",)]
    inputs = entry.get("inputs") if isinstance(entry, dict) else None
    for group, source in _PRODUCERS:
        found = inputs.get(group) if isinstance(inputs, dict) else None
        for name in found if isinstance(found, dict) else ():
            paths.append(("inputs", group, name, source, "producerTask"))
    return paths


def template(entry: dict[str, Any], paths: list[Path]) -> tuple[dict, list[tuple[Path, Any]]]:
    """A copy of `entry` with `NAME` for the non-empty string (or strings) at each path
    (parents copied, nothing shared changed), and the (path, value) pairs replaced."""
    copied = dict(entry)
    holes: list[tuple[Path, Any]] = []
    for path in paths:
        node: Any = copied
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        leaf = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(leaf, str) and leaf:
            hole: Any = NAME
        elif isinstance(leaf, list) and leaf and all(isinstance(n, str) and n for n in leaf):
            hole = [NAME] * len(leaf)
        else:
            continue
        node = copied
        for key in path[:-1]:
            node[key] = dict(node[key])
            node = node[key]
        node[path[-1]] = hole
        holes.append((path, leaf))
    return copied, holes


def fill(result: Any, path: Path, name: Any) -> None:
    """Put a name that `template` replaced back into the round trip of the template;
    ValueError if the round trip did not keep `NAME` there."""
    for key in path[:-1]:
        result = result.get(key) if isinstance(result, dict) else None
    hole = NAME if isinstance(name, str) else [NAME] * len(name)
    if not isinstance(result, dict) or result.get(path[-1]) != hole:
        raise ValueError(f"unexpected {'.'.join(path)}")
    result[path[-1]] = name if isinstance(name, str) else list(name)
