"""DAG outputs: what a pipeline (or a loop/condition group) returns to its parent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..dsl.graph import (
    SINGLE_OUTPUT_NAME,
    Collected,
    ComponentSpec,
    OneOfMixin,
    Pipeline,
    PipelineChannel,
    check_output_type,
)
from ..errors import CompileError


def pipeline_outputs_dict(returned: Any, pipeline: Pipeline) -> dict[str, PipelineChannel]:
    """What the pipeline function returned, by output name (kfp's rules)."""
    if returned is None:
        outputs: dict[str, Any] = {}
    elif isinstance(returned, Mapping):  # a dict, or a task's `.outputs`
        outputs = dict(returned)
    elif isinstance(returned, PipelineChannel):
        outputs = {SINGLE_OUTPUT_NAME: returned}
    elif isinstance(returned, tuple) and hasattr(returned, "_asdict"):
        outputs = dict(returned._asdict())
    else:
        raise CompileError(
            f"the pipeline function returned {type(returned).__name__}",
            pipeline=pipeline.name,
            hint="return a task output, a NamedTuple of outputs, or nothing",
        )
    for channel in outputs.values():
        _check_top_level(channel, pipeline.name)
    return outputs


def _check_top_level(channel: Any, pipeline: str) -> None:
    if isinstance(channel, Collected):
        return
    if isinstance(channel, OneOfMixin):
        parent = channel.condition_branches_group.parent_task_group
    elif isinstance(channel, PipelineChannel):
        task = channel.task
        parent = getattr(task, "parent_task_group", None)
        if task is None:
            return
    else:
        raise CompileError(
            f"the pipeline returned {channel!r} of type {type(channel).__name__}",
            pipeline=pipeline,
            hint="return task outputs (a channel, a NamedTuple or dict of channels)",
        )
    if parent is not None and not parent.is_root:
        raise CompileError(
            "Pipeline outputs may only be returned from the top level of the pipeline "
            f"function scope. Got pipeline output from within the control flow group "
            f"dsl.{type(parent).__name__}.",
            pipeline=pipeline,
            hint="return dsl.Collected(...) for loop outputs, dsl.OneOf(...) for branches",
        )


def dag_outputs(
    component: dict,
    outputs: dict[str, PipelineChannel],
    interface: ComponentSpec | None = None,
    pipeline: str | None = None,
) -> None:
    """Select each output from a subtask; every declared output must be returned."""
    declared = component.get("outputDefinitions", {})
    dag = component.setdefault("dag", {})
    for name, channel in outputs.items():
        kind = "artifacts" if channel.is_artifact else "parameters"
        if name not in declared.get(kind, {}):
            raise CompileError(
                f"Pipeline or component output not defined: {name}. You may be missing a "
                "type annotation.",
                pipeline=pipeline,
                hint="annotate the pipeline function's return type",
            )
        if kind == "artifacts":
            selector = {"producerSubtask": channel.task_name, "outputArtifactKey": channel.name}
            entry = dag.setdefault("outputs", {}).setdefault("artifacts", {})
            entry.setdefault(name, {"artifactSelectors": []})["artifactSelectors"].append(selector)
        else:
            dag.setdefault("outputs", {}).setdefault("parameters", {})[name] = {
                "valueFromParameter": {
                    "producerSubtask": channel.task_name,
                    "outputParameterKey": channel.name,
                }
            }
        if interface is not None:
            check_output_type(channel, interface, name, len(outputs))
    _check_all_returned(component, pipeline)


def oneof_dag_outputs(component: dict, outputs: dict[str, Any]) -> None:
    """A ConditionBranches group's outputs: one selector per branch."""
    dag = component.setdefault("dag", {})
    for name, oneof in outputs.items():
        if oneof.is_artifact:
            selectors = [
                {"producerSubtask": c.task_name, "outputArtifactKey": c.name}
                for c in oneof.channels
            ]
            entry: dict[str, Any] = {"artifactSelectors": selectors}
            dag.setdefault("outputs", {}).setdefault("artifacts", {})[name] = entry
        else:
            selectors = [
                {"producerSubtask": c.task_name, "outputParameterKey": c.name}
                for c in oneof.channels
            ]
            entry = {"valueFromOneof": {"parameterSelectors": selectors}}
            dag.setdefault("outputs", {}).setdefault("parameters", {})[name] = entry
    _check_all_returned(component, None)


def _check_all_returned(component: dict, pipeline: str | None) -> None:
    returned = component.get("dag", {}).get("outputs", {})
    for kind, declared in component.get("outputDefinitions", {}).items():
        for name in declared:
            if name not in returned.get(kind, {}):
                raise CompileError(
                    f"Missing pipeline output: {name}.",
                    pipeline=pipeline,
                    hint="return a value for every output the return annotation declares",
                )
