"""DAG entries and component interfaces of groups: loops (iterators), conditions (CEL
trigger policies), exit handlers and condition branches."""

from __future__ import annotations

import json
from typing import Any

from ..dsl.graph import (
    LOOP_CHANNELS,
    ConditionBase,
    LoopArgumentVariable,
    LoopParameterArgument,
    ParallelFor,
    PipelineChannel,
    TasksGroup,
    ir_parameter_type,
    rename_for_k8s,
)
from ..errors import CompileError
from . import _ir
from ._groups import injected_name


def group_component(inputs: list[PipelineChannel], outputs: dict[str, PipelineChannel]) -> dict:
    """The interface of a group's component: one input per surfaced channel."""
    spec: dict[str, Any] = {}
    for channel in inputs:
        name = injected_name(channel)
        definitions = spec.setdefault("inputDefinitions", {})
        if channel.is_artifact:
            entry: dict[str, Any] = {"artifactType": _ir.artifact_type(channel.channel_type)}
            if channel.is_artifact_list:
                entry["isArtifactList"] = True
            definitions.setdefault("artifacts", {})[name] = entry
        else:
            parameter_type = ir_parameter_type(channel.channel_type)
            definitions.setdefault("parameters", {})[name] = {"parameterType": parameter_type}
    for name, channel in outputs.items():
        definitions = spec.setdefault("outputDefinitions", {})
        if channel.is_artifact:
            entry = {"artifactType": _ir.artifact_type(channel.channel_type)}
            if channel.is_artifact_list:
                entry["isArtifactList"] = True
            definitions.setdefault("artifacts", {})[name] = entry
        else:
            parameter_type = ir_parameter_type(channel.channel_type)
            definitions.setdefault("parameters", {})[name] = {"parameterType": parameter_type}
    return spec


def group_task(group: TasksGroup, channels: list, dag: list[str], parent_is_root: bool) -> dict:
    """The DAG entry of a group, its inputs wired like a task's."""
    spec: dict[str, Any] = {
        "taskInfo": {"name": group.display_name or group.name},
        "componentRef": {"name": "comp-" + rename_for_k8s(group.name)},
    }
    for channel in channels:
        _group_input(spec, channel, dag, parent_is_root)
    if isinstance(group, ParallelFor):
        _loop_iterator(group, spec)
    elif isinstance(group, ConditionBase):
        spec["triggerPolicy"] = {"condition": cel_conjunction(group.conditions)}
    return spec


def _group_input(spec: dict, channel: PipelineChannel, dag: list[str], parent_is_root: bool):
    full_name, channel_name = channel.full_name, channel.name
    name = injected_name(channel)
    inputs = spec.setdefault("inputs", {})
    if isinstance(channel, LoopArgumentVariable):
        full_name = channel.loop_argument.full_name
        selector = f'parseJson(string_value)["{channel.subvar_name}"]'
        inputs.setdefault("parameters", {}).setdefault(name, {})["parameterExpressionSelector"] = (
            selector
        )
        if not channel.is_with_items_loop_argument:
            channel_name = channel.items_or_pipeline_channel.name
    kind = "artifacts" if channel.is_artifact else "parameters"
    slot = inputs.setdefault(kind, {}).setdefault(name, {})
    if channel.task_name and channel.task_name in dag:
        key = "taskOutputArtifact" if channel.is_artifact else "taskOutputParameter"
        field = "outputArtifactKey" if channel.is_artifact else "outputParameterKey"
        slot[key] = {"producerTask": rename_for_k8s(channel.task_name), field: channel_name}
    elif channel.is_artifact:
        slot["componentInputArtifact"] = full_name if parent_is_root else name
    else:
        slot["componentInputParameter"] = full_name if parent_is_root else injected_name(full_name)


def _pop_input(spec: dict, name: str) -> None:
    inputs = spec.get("inputs", {})
    for kind in ("artifacts", "parameters"):
        inputs.get(kind, {}).pop(name, None)
        if kind in inputs and not inputs[kind]:
            del inputs[kind]
    if "inputs" in spec and not spec["inputs"]:
        del spec["inputs"]


def _loop_iterator(group: ParallelFor, spec: dict) -> None:
    argument = group.loop_argument
    if group.items_is_pipeline_channel:
        items = argument.items_or_pipeline_channel
        items_name = injected_name(items)
        item_name = injected_name(argument.full_name)
        if isinstance(argument, LoopParameterArgument):
            spec["parameterIterator"] = {
                "items": {"inputParameter": items_name},
                "itemInput": item_name,
            }
        else:
            spec["artifactIterator"] = {
                "items": {"inputArtifact": items_name},
                "itemInput": item_name,
            }
        _pop_input(spec, item_name)
        if isinstance(items, LoopArgumentVariable):
            slot = spec.setdefault("inputs", {}).setdefault("parameters", {})
            slot.setdefault(items_name, {}).update(
                {
                    "parameterExpressionSelector": (
                        f'parseJson(string_value)["{items.subvar_name}"]'
                    ),
                    "componentInputParameter": injected_name(items.loop_argument),
                }
            )
    else:
        item_name = injected_name(argument)
        raw = json.dumps(argument.items_or_pipeline_channel, sort_keys=True)
        spec["parameterIterator"] = {"items": {"raw": raw}, "itemInput": item_name}
        _pop_input(spec, item_name)
    if group.parallelism_limit > 0:
        spec["iteratorPolicy"] = {"parallelismLimit": group.parallelism_limit}


def loop_group_channels(group: ParallelFor, inputs: list, graph: Any) -> list:
    """The channels a loop's component takes: surfaced inputs, the items, the item."""
    channels = []
    for channel in inputs:
        if (
            isinstance(channel, LOOP_CHANNELS)
            and channel.is_with_items_loop_argument
            and not any(
                channel.name in graph.loops[name].loop_argument.name
                for name in graph.group_parents[group.name][::-1]
                if name in graph.loops
            )
        ):
            continue
        channels.append(channel)
    if group.items_is_pipeline_channel:
        channels.append(group.loop_argument.items_or_pipeline_channel)
    channels.append(group.loop_argument)
    return channels


_NUMERIC = ("NUMBER_INTEGER", "NUMBER_DOUBLE")


def cel_conjunction(conditions: list) -> str:
    return " && ".join(_cel(operation) for operation in conditions)


def _operand_type(operand: Any) -> str:
    if isinstance(operand, PipelineChannel):
        parameter_type = ir_parameter_type(operand.channel_type)
        if parameter_type in ("STRUCT", "LIST", None):
            raise CompileError(
                "Conditional requires primitive parameter values for comparison. Found input "
                f'"{injected_name(operand)}" of type {operand.channel_type} in pipeline '
                "definition instead.",
                hint="compare a str, int, float or bool output",
            )
        return parameter_type
    kinds = {str: "STRING", bool: "BOOLEAN", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE"}
    if type(operand) not in kinds:
        raise CompileError(
            f"cannot compare with {operand!r} of type {type(operand).__name__} in a condition",
            hint="compare with a str, int, float or bool constant",
        )
    return kinds[type(operand)]


def _cel(operation: Any) -> str:
    """One comparison as kfp's CEL: `int(inputs.parameter_values['x']) > 5`."""
    left, right = operation.left_operand, operation.right_operand
    types = {_operand_type(left), _operand_type(right)}
    if len(types) == 1:
        canonical = types.pop()
    elif "STRING" in types:
        canonical = "STRING"
    elif "BOOLEAN" in types:
        canonical = "BOOLEAN"
    else:
        canonical = "NUMBER_DOUBLE"
    values = [_cel_operand(operand, canonical) for operand in (left, right)]
    text = f"{values[0]} {operation.operator} {values[1]}"
    return f"!({text})" if operation.negate else text


def _cel_operand(operand: Any, canonical: str) -> str:
    if isinstance(operand, PipelineChannel):
        value = f"inputs.parameter_values['{injected_name(operand)}']"
        kind = ir_parameter_type(operand.channel_type)
        if kind == "NUMBER_INTEGER":
            value = f"int({value})"
    elif isinstance(operand, str):
        value, kind = f"'{operand}'", "STRING"
    elif isinstance(operand, bool):
        value, kind = str(operand).lower(), "BOOLEAN"
    else:
        value = str(operand)
        kind = "NUMBER_INTEGER" if isinstance(operand, int) else "NUMBER_DOUBLE"
    if kind == canonical:
        return value
    if canonical == "STRING":
        return f"'{value}'"
    if canonical == "BOOLEAN":
        # kfp's own rule, kept so conditions compile identically.
        return "true" if int(value) == 0 else "false"
    return f"double({value})"
