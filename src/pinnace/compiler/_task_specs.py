"""Task entries of a DAG (`PipelineTaskSpec`): for component tasks, for groups (loops,
conditions, exit handlers) and for exit tasks, as kfp 2.x writes them."""

from __future__ import annotations

from typing import Any

from ..dsl.graph import (
    Collected,
    LoopArgumentVariable,
    LoopArtifactArgument,
    PipelineChannel,
    PipelineTask,
    channels_in,
    input_value,
    is_task_final_status,
    rename_for_k8s,
    replace_in,
)
from ..dsl.graph import LoopParameterArgument as LoopParam
from ..errors import CompileError
from ._groups import injected_name

_RESOURCE_FIELDS = (
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "accelerator_type",
    "accelerator_count",
)


def _slot(spec: dict, kind: str, name: str) -> dict:
    return spec.setdefault("inputs", {}).setdefault(kind, {}).setdefault(name, {})


def _is_artifact(channel: PipelineChannel) -> bool:
    return channel.is_artifact


def _bind(spec: dict, name: str, channel: PipelineChannel, parent: dict, dag: list[str]) -> None:
    """An input fed by a channel: a sibling's output, or an input of the parent DAG."""
    kind = "artifacts" if _is_artifact(channel) else "parameters"
    slot = _slot(spec, kind, name)
    if channel.task_name and channel.task_name in dag:
        key = "taskOutputArtifact" if kind == "artifacts" else "taskOutputParameter"
        field = "outputArtifactKey" if kind == "artifacts" else "outputParameterKey"
        slot[key] = {"producerTask": rename_for_k8s(channel.task_name), field: channel.name}
        return
    source = "componentInputArtifact" if kind == "artifacts" else "componentInputParameter"
    own = channel.full_name
    chosen = own if not channel.task_name and own in parent.get(kind, {}) else None
    chosen = chosen or injected_name(channel)
    if chosen not in parent.get(kind, {}):
        _out_of_scope(channel)
    slot[source] = chosen


def _out_of_scope(channel: PipelineChannel) -> None:
    """kfp fails on an assert (or writes a dangling reference) here; say what is wrong."""
    if channel.name.startswith("loop-item-param-") or channel.name.endswith("-loop-item"):
        raise CompileError(
            f"the loop item {channel.name!r} is used outside its dsl.ParallelFor",
            hint="use a loop item only inside its `with dsl.ParallelFor(...)` block",
        )
    raise CompileError(
        f"the value {channel.full_name!r} is not available here",
        hint="a task output can be used only where its producer runs: not outside its "
        "dsl.If/ParallelFor block (use dsl.OneOf or dsl.Collected) and not in an exit task",
    )


def task_spec(task: PipelineTask, parent: dict, dag: list[str]) -> dict[str, Any]:
    """The DAG entry of a component task (inputs wired to `parent`'s inputs or siblings)."""
    spec: dict[str, Any] = {
        "taskInfo": {"name": task.display_name or task.name},
        "componentRef": {"name": "comp-" + rename_for_k8s(task.name)},
        "cachingOptions": {"enableCache": task.enable_caching},
    }
    if task.cache_key:
        spec["cachingOptions"]["cacheKey"] = task.cache_key
    if task.retry_policy is not None:
        spec["retryPolicy"] = task.retry_policy.to_ir()
    _promote_runtime_options(task)
    for name, value in task.inputs.items():
        _task_input(spec, task, name, value, parent, dag)
    return spec


def _promote_runtime_options(task: PipelineTask) -> None:
    """kfp passes resources and images that hold channels as extra task inputs."""
    container = task.container
    if container is None:
        return
    resources = container.resources
    for field in _RESOURCE_FIELDS:
        value = getattr(resources, field, None) if resources else None
        if value and channels_in(value):
            task.inputs[field] = value
    if container.image and channels_in(container.image):
        task.inputs["base_image"] = container.image


def _task_input(spec, task, name, value, parent, dag) -> None:
    if isinstance(value, (LoopParam, LoopArtifactArgument)):
        kind = "artifacts" if value.is_artifact else "parameters"
        source = "componentInputArtifact" if value.is_artifact else "componentInputParameter"
        if injected_name(value) not in parent.get(kind, {}):
            _out_of_scope(value)
        _slot(spec, kind, name)[source] = injected_name(value)
    elif isinstance(value, LoopArgumentVariable):
        if injected_name(value.loop_argument) not in parent.get("parameters", {}):
            _out_of_scope(value.loop_argument)
        slot = _slot(spec, "parameters", name)
        slot["componentInputParameter"] = injected_name(value.loop_argument)
        slot["parameterExpressionSelector"] = f'parseJson(string_value)["{value.subvar_name}"]'
    elif isinstance(value, (PipelineChannel, Collected)):
        _bind(spec, name, value, parent, dag)
    elif isinstance(value, (str, int, float, bool, dict, list)):
        for channel in channels_in(value):
            extra = injected_name(channel)
            if extra in task.inputs:
                raise CompileError(
                    f"input name {extra!r} collides with a compiler-made input",
                    task=task.name,
                    hint="rename the component input",
                )
            value = replace_in(value, channel.pattern, input_value(extra))
            _bind(spec, extra, channel, parent, dag)
        _slot(spec, "parameters", name)["runtimeValue"] = {"constant": value}
    else:
        raise CompileError(
            f"input {name!r} got {value!r} of type {type(value).__name__}",
            task=task.name,
            hint="pass str, int, float, bool, dict or list constants, or channels",
        )


def exit_task_spec(task: PipelineTask, handler: str, root_inputs: dict) -> dict[str, Any]:
    spec = task_spec(task, root_inputs, [])
    spec["dependentTasks"] = [handler]
    spec["triggerPolicy"] = {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    for name, input_spec in task.component_spec.inputs.items():
        if is_task_final_status(input_spec.type):
            _slot(spec, "parameters", name)["taskFinalStatus"] = {"producerTask": handler}
    return spec


def apply_ignore_upstream_failure(task: PipelineTask, spec: dict) -> None:
    if not task.ignore_upstream_failure_tag:
        return
    spec.setdefault("triggerPolicy", {})["strategy"] = "ALL_UPSTREAM_TASKS_COMPLETED"
    for name, input_spec in task.component_spec.inputs.items():
        if not is_task_final_status(input_spec.type):
            continue
        upstream = spec.get("dependentTasks", [])
        if len(upstream) != 1:
            raise CompileError(
                "Tasks that use '.ignore_upstream_failure()' and 'PipelineTaskFinalStatus' "
                f"must have exactly one dependent upstream task; got {len(upstream)}",
                task=task.name,
                hint="make the task depend (.after or an output) on exactly one task "
                "in the same block",
            )
        _slot(spec, "parameters", name)["taskFinalStatus"] = {"producerTask": upstream[0]}
