"""Build the IR (PipelineSpec, schema 2.1.0) of a pipeline as a JSON-like dict."""

from __future__ import annotations

import inspect
from typing import Any

from .. import __version__
from ..dsl._channel import PipelineChannel, channels_in, create_channel, replace_in
from ..dsl._context import PipelineContext
from ..dsl._decorators import Pipeline
from ..dsl._interface import SINGLE_OUTPUT_NAME
from ..dsl._placeholders import input_value
from ..dsl._structures import rename_for_k8s, unique_name
from ..dsl._task import PipelineTask
from ..errors import CompileError, PinnaceError
from . import _ir

SCHEMA_VERSION = "2.1.0"
SDK_VERSION = f"pinnace-{__version__}"
_RESOURCE_FIELDS = (
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "accelerator_type",
    "accelerator_count",
)


def _injected(channel: PipelineChannel) -> str:
    return f"pipelinechannel--{channel.full_name}"


def _channel_source(channel: PipelineChannel) -> dict[str, Any]:
    """Where a task input comes from: a sibling task's output or a pipeline input."""
    if channel.is_artifact:
        if channel.task_name:
            return {
                "taskOutputArtifact": {
                    "producerTask": rename_for_k8s(channel.task_name),
                    "outputArtifactKey": channel.name,
                }
            }
        return {"componentInputArtifact": channel.full_name}
    if channel.task_name:
        return {
            "taskOutputParameter": {
                "producerTask": rename_for_k8s(channel.task_name),
                "outputParameterKey": channel.name,
            }
        }
    return {"componentInputParameter": channel.full_name}


def _task_inputs(task: PipelineTask) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    values = dict(task.inputs)
    resources = task.container.resources if task.container else None
    for field in _RESOURCE_FIELDS:
        value = getattr(resources, field, None) if resources else None
        if value and channels_in(value):
            values[field] = value  # kfp passes run-time resources as task inputs
    if task.container and channels_in(task.container.image):
        values["base_image"] = task.container.image
    for name, value in values.items():
        if isinstance(value, PipelineChannel):
            target = artifacts if value.is_artifact else parameters
            target[name] = _channel_source(value)
            continue
        for channel in channels_in(value):
            extra = _injected(channel)
            if extra in values:
                raise CompileError(
                    f"input name {extra!r} collides with a compiler-made input",
                    task=task.name,
                    hint="rename the component input",
                )
            value = replace_in(value, channel.pattern, input_value(extra))
            parameters[extra] = _channel_source(channel)
        parameters[name] = {"runtimeValue": {"constant": value}}
    result: dict[str, Any] = {}
    if parameters:
        result["parameters"] = parameters
    if artifacts:
        result["artifacts"] = artifacts
    return result


def _dependencies(task: PipelineTask, known: dict[str, PipelineTask]) -> list[str]:
    upstream = {c.task_name for c in task.channel_inputs if c.task_name}
    upstream.update(task.dependent_tasks)
    for name in upstream:
        if name not in known:
            raise CompileError(
                f"task depends on {name!r}, which is not in this pipeline",
                task=task.name,
                hint="pass outputs only of tasks created in the same pipeline",
            )
    return [rename_for_k8s(name) for name in sorted(upstream)]


def _task_spec(task: PipelineTask, component_name: str, known: dict) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "taskInfo": {"name": task.display_name or task.name},
        "componentRef": {"name": component_name},
        "cachingOptions": {"enableCache": task.enable_caching},
    }
    if task.cache_key:
        spec["cachingOptions"]["cacheKey"] = task.cache_key
    if task.retry_policy is not None:
        spec["retryPolicy"] = task.retry_policy.to_ir()
    inputs = _task_inputs(task)
    if inputs:
        spec["inputs"] = inputs
    dependencies = _dependencies(task, known)
    if dependencies:
        spec["dependentTasks"] = dependencies
    return spec


def _dag_outputs(returned: Any, pipeline: Pipeline) -> dict[str, Any]:
    if returned is None:
        return {}
    if isinstance(returned, PipelineChannel):
        returned = {SINGLE_OUTPUT_NAME: returned}
    elif isinstance(returned, tuple) and hasattr(returned, "_asdict"):
        returned = dict(returned._asdict())
    if not isinstance(returned, dict):
        raise CompileError(
            f"the pipeline function returned {type(returned).__name__}",
            pipeline=pipeline.name,
            hint="return a task output, a NamedTuple of outputs, or nothing",
        )
    params: dict[str, Any] = {}
    artifacts: dict[str, Any] = {}
    for name, channel in returned.items():
        if name not in pipeline.component_spec.outputs:
            raise CompileError(
                f"pipeline output {name!r} is not declared",
                pipeline=pipeline.name,
                hint="annotate the pipeline function's return type",
            )
        if channel.is_artifact:
            artifacts[name] = {
                "artifactSelectors": [
                    {"producerSubtask": channel.task_name, "outputArtifactKey": channel.name}
                ]
            }
        else:
            params[name] = {
                "valueFromParameter": {
                    "producerSubtask": channel.task_name,
                    "outputParameterKey": channel.name,
                }
            }
    outputs: dict[str, Any] = {}
    if params:
        outputs["parameters"] = params
    if artifacts:
        outputs["artifacts"] = artifacts
    return outputs


def _run_pipeline_function(pipeline: Pipeline) -> tuple[PipelineContext, Any]:
    args = [
        create_channel(name, spec.type, is_artifact_list=spec.is_artifact_list)
        for name, spec in pipeline.component_spec.inputs.items()
    ]
    context = PipelineContext(pipeline.name)
    try:
        with context:
            returned = pipeline.pipeline_func(*args)
    except CompileError as exc:
        if exc.pipeline is not None:
            raise
        error = CompileError(exc.message, pipeline=pipeline.name, hint=exc.hint)
        error.task = exc.task
        raise error from None
    except PinnaceError:
        raise
    except Exception as exc:
        line = _error_line(exc, pipeline)
        raise CompileError(
            f"the pipeline function raised {type(exc).__name__}: {exc}{line}",
            pipeline=pipeline.name,
            hint="fix the pipeline function; it runs at compile time with placeholders "
            "instead of values, so it cannot compute with parameter values",
        ) from exc
    if not context.tasks:
        raise CompileError(
            "the pipeline has no tasks",
            pipeline=pipeline.name,
            hint="call at least one component inside the pipeline function",
        )
    return context, returned


def _error_line(exc: Exception, pipeline: Pipeline) -> str:
    source = (
        inspect.getsourcefile(pipeline.pipeline_func) if callable(pipeline.pipeline_func) else None
    )
    tb = exc.__traceback__
    where = ""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == source:
            where = f" (at {source}:{tb.tb_lineno})"
        tb = tb.tb_next
    return where


def _component_entries(tasks: list[PipelineTask], known: dict) -> tuple[dict, dict, dict]:
    components: dict[str, Any] = {}
    executors: dict[str, Any] = {}
    dag_tasks: dict[str, Any] = {}
    for task in tasks:
        component_name = unique_name("comp-" + rename_for_k8s(task.name), components)
        component = _ir.interface(task.component_spec)
        if task.container is not None:
            label = unique_name("exec-" + rename_for_k8s(task.name), executors)
            component["executorLabel"] = label
            executors[label] = {"container": _ir.container_spec(task.container)}
        components[component_name] = component
        dag_tasks[task.name] = _task_spec(task, component_name, known)
    return components, executors, dag_tasks


def build_pipeline_spec(pipeline: Pipeline) -> dict[str, Any]:
    """The IR of a pipeline, before protobuf normalization."""
    if pipeline.name == "" or len(pipeline.name) > 128 or not pipeline.name[0].isalnum():
        raise CompileError(
            f"invalid pipeline name {pipeline.name!r}",
            hint="use a name matching ^[a-z0-9][a-z0-9-]{0,127}$ in @dsl.pipeline(name=...)",
        )
    context, returned = _run_pipeline_function(pipeline)
    tasks = context.root.tasks
    components, executors, dag_tasks = _component_entries(tasks, context.tasks)
    root: dict[str, Any] = {"dag": {"tasks": dag_tasks}, **_ir.interface(pipeline.component_spec)}
    outputs = _dag_outputs(returned, pipeline)
    if outputs:
        root["dag"]["outputs"] = outputs
    info: dict[str, Any] = {"name": pipeline.name}
    if pipeline.display_name is not None:
        info["displayName"] = pipeline.display_name
    if pipeline.description is not None:
        info["description"] = pipeline.description
    spec: dict[str, Any] = {
        "components": components,
        "deploymentSpec": {"executors": executors},
        "pipelineInfo": info,
        "root": root,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": SDK_VERSION,
    }
    if pipeline.pipeline_root is not None:
        spec["defaultPipelineRoot"] = pipeline.pipeline_root
    return spec


def build_component_spec(component: Any) -> dict[str, Any]:
    """The IR of a single component, compiled on its own (kfp's component YAML)."""
    spec = component.component_spec

    def one_task(*args: Any) -> Any:
        task = component(**dict(zip(spec.inputs, args, strict=True)))
        return dict(task.outputs) if spec.outputs else None

    holder = Pipeline.__new__(Pipeline)
    holder.pipeline_func, holder.component_spec = one_task, spec
    holder.name, holder.description = spec.name, None
    holder.pipeline_root = holder.display_name = None
    return build_pipeline_spec(holder)
