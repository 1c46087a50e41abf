"""Merge the IR of a pipeline used as a component into the pipeline that calls it."""

from __future__ import annotations

from typing import Any

from ..dsl.graph import unique_name
from ..spec.protos import pipeline_spec_pb2
from ._platform import merge_platform


def _rename_executor(sub: dict, old: str, new: str) -> None:
    for component in sub.get("components", {}).values():
        if component.get("executorLabel") == old:
            component["executorLabel"] = new


def _rename_component_refs(sub: dict, old: str, new: str) -> None:
    dags = [c["dag"] for c in sub.get("components", {}).values() if "dag" in c]
    dags.append(sub["root"].get("dag", {}))
    for dag in dags:
        for task in dag.get("tasks", {}).values():
            if task["componentRef"]["name"] == old:
                task["componentRef"]["name"] = new


def _map_order(names: list[str], executors: bool) -> list[str]:
    """The order kfp iterates these names in: kfp walks protobuf maps, whose order is
    the map implementation's, not insertion order; renaming depends on it."""
    protos = pipeline_spec_pb2()
    if executors:
        built = protos.PipelineDeploymentConfig()
        for name in names:
            built.executors[name].container.image = "x"
        copied = protos.PipelineDeploymentConfig()
    else:
        built = protos.PipelineSpec()
        for name in names:
            built.components[name].executor_label = "x"
        copied = protos.PipelineSpec()
    copied.CopyFrom(built)
    ordered = list(copied.executors if executors else copied.components)
    return ordered if sorted(ordered) == sorted(names) else names


def merge_sub_pipeline(build: Any, sub: dict[str, Any]) -> dict[str, Any]:
    """Copy the sub-pipeline's executors and components in (renamed to stay unique, as
    kfp renames them) and return its root, the component of the calling task."""
    executors = sub["deploymentSpec"]["executors"]
    labels: dict[str, str] = {}
    for label in _map_order(list(executors), executors=True):
        executor = executors[label]
        new = unique_name(label, build.executors)
        if new != label:
            _rename_executor(sub, label, new)
        build.executors[new] = executor
        labels[label] = new
    merge_platform(build, sub, labels)
    renames: dict[str, str] = {}
    existing = list(build.components)
    for name in _map_order(list(sub.get("components", {})), executors=False):
        taken = existing + [n for pair in renames.items() for n in pair]
        renames[name] = unique_name(name, taken)
    # Rename last-first so that one rename cannot collide with a later one (kfp's order).
    for old, new in reversed(list(renames.items())):
        if new != old:
            _rename_component_refs(sub, old, new)
    for old, component in sub.get("components", {}).items():
        build.components[renames[old]] = component
    return sub["root"]
