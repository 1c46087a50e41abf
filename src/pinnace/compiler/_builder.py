"""Build the IR (PipelineSpec, schema 2.1.0) of a pipeline as a JSON-like dict, group by
group, in the order kfp 2.x builds it (so generated names agree)."""

from __future__ import annotations

import copy
from typing import Any

from .. import __version__
from ..dsl.graph import (
    ConditionBase,
    ConditionBranches,
    ExitHandler,
    ParallelFor,
    Pipeline,
    PipelineContext,
    PipelineTask,
    TasksGroup,
    is_task_final_status,
    rename_for_k8s,
    unique_name,
)
from ..errors import CompileError
from . import _ir
from ._dag_outputs import dag_outputs, oneof_dag_outputs, pipeline_outputs_dict
from ._group_specs import group_component, group_task, loop_group_channels
from ._groups import (
    GroupGraph,
    channels_of_conditions,
    condition_channels,
    dependencies,
    group_inputs,
    group_outputs,
)
from ._merge import merge_sub_pipeline
from ._platform import PLATFORM_KEY, add_platform_config, platform_spec
from ._run import run_pipeline_function
from ._task_specs import apply_ignore_upstream_failure, exit_task_spec, task_spec

SCHEMA_VERSION = "2.1.0"
SDK_VERSION = f"pinnace-{__version__}"


class _Build:
    """The state of one pipeline's build: the spec so far and the graph analysis."""

    def __init__(self, context: PipelineContext, root: dict[str, Any], outputs: dict) -> None:
        self.context = context
        self.components: dict[str, Any] = {}
        self.executors: dict[str, Any] = {}
        self.root = root
        self.graph = GroupGraph(context)
        self.conditions = condition_channels(context.root)
        self.inputs = group_inputs(self.graph, self.conditions)
        self.outputs, self.pipeline_outputs = group_outputs(self.graph, outputs)
        self.dependencies = dependencies(self.graph, self.conditions)
        self.is_component = False
        #: the platform spec's executors: platform ("kubernetes") -> executor label -> config
        self.platform: dict[str, dict[str, Any]] = {}

    def component_of(self, group: TasksGroup) -> dict[str, Any]:
        if group is self.context.root:
            return self.root
        return self.components["comp-" + rename_for_k8s(group.name)]

    def add_component(self, name: str, component: dict) -> str:
        name = unique_name(name, self.components)
        self.components[name] = component
        return name

    def add_executor(self, label: str, executor: dict) -> str:
        label = unique_name(label, self.executors)
        self.executors[label] = executor
        return label


def _task_component(build: _Build, task: PipelineTask, exit_task: bool = False) -> dict:
    """The component (and executor) of a task; a nested pipeline merges its own specs."""
    for name, spec in task.component_spec.inputs.items():
        exempt = exit_task or task.ignore_upstream_failure_tag or build.is_component
        if is_task_final_status(spec.type) and not exempt:
            raise CompileError(
                f"input {name!r} is a PipelineTaskFinalStatus, which only exit tasks "
                "(dsl.ExitHandler) and tasks with .ignore_upstream_failure() receive",
                task=task.name,
                hint="use the component as the exit task of a dsl.ExitHandler",
            )
    graph = task.component_spec.graph
    if graph is not None:
        return merge_sub_pipeline(build, sub_pipeline_spec(graph))
    component = _ir.interface(task.component_spec)
    label = "exec-" + rename_for_k8s(task.name)
    if task.container is not None:
        executor = {"container": _ir.container_spec(task.container)}
    elif task.importer_spec is not None:
        executor = {"importer": _ir.importer_spec(task.importer_spec, task.inputs)}
    else:
        raise CompileError("task has no implementation", task=task.name, hint="")
    component["executorLabel"] = build.add_executor(label, executor)
    return component


def _subgroup_entry(build: _Build, group: TasksGroup, sub: Any, dag: list[str]) -> tuple:
    channels = list(build.inputs.get(sub.name, {}).values())
    outputs = build.outputs.get(sub.name, {})
    parent = build.component_of(group)
    is_root = group is build.context.root
    if isinstance(sub, PipelineTask):
        spec = task_spec(sub, parent.get("inputDefinitions", {}), dag)
        component = _task_component(build, sub)
        add_platform_config(build, sub, component, parent.get("inputDefinitions", {}), dag)
        return spec, component
    if isinstance(sub, ParallelFor):
        channels = loop_group_channels(sub, channels, build.graph)
    elif isinstance(sub, ConditionBase):
        channels = channels + channels_of_conditions(sub.conditions)
    elif isinstance(sub, ExitHandler):
        outputs = {}
    component = group_component(channels, outputs)
    spec = group_task(sub, channels, dag, is_root)
    if isinstance(sub, ConditionBranches):
        oneof_dag_outputs(component, outputs)
    elif outputs:
        dag_outputs(component, outputs)
    return spec, component


def _build_group(build: _Build, group: TasksGroup) -> None:
    subgroups: list[Any] = group.groups + group.tasks
    dag = [rename_for_k8s(s.name) for s in subgroups]
    tasks = build.component_of(group).setdefault("dag", {}).setdefault("tasks", {})
    for sub in subgroups:
        spec, component = _subgroup_entry(build, group, sub, dag)
        depends = sorted(build.dependencies.get(sub.name, ()))
        if depends:
            spec["dependentTasks"] = [rename_for_k8s(d) for d in depends]
        if isinstance(sub, PipelineTask):
            apply_ignore_upstream_failure(sub, spec)
        name = build.add_component("comp-" + rename_for_k8s(sub.name), component)
        spec["componentRef"] = {"name": name}
        tasks[sub.name] = spec


def _build_exit_handlers(build: _Build, parent: TasksGroup) -> None:
    for group in parent.groups:
        if isinstance(group, ExitHandler):
            if not parent.is_root:
                raise CompileError(
                    "ExitHandler can only be used within the outermost scope of a pipeline "
                    f"function definition, not within {type(parent).__name__} {parent.name}",
                    pipeline=build.context.name,
                    hint="move the `with dsl.ExitHandler` block to the top level",
                )
            task = group.exit_task
            handler = rename_for_k8s(group.name)
            spec = exit_task_spec(task, handler, build.root.get("inputDefinitions", {}))
            component = _task_component(build, task, exit_task=True)
            root_dag = list(build.root.get("dag", {}).get("tasks", {}))
            inputs = build.root.get("inputDefinitions", {})
            add_platform_config(build, task, component, inputs, root_dag)
            spec["componentRef"]["name"] = build.add_component(
                spec["componentRef"]["name"], component
            )
            build.root["dag"]["tasks"][rename_for_k8s(task.name)] = spec
        _build_exit_handlers(build, group)


def create_pipeline_spec(pipeline: Pipeline) -> dict[str, Any]:
    """The IR of a pipeline, before protobuf normalization."""
    _check_name(pipeline.name)
    context, returned = run_pipeline_function(pipeline)
    try:
        return _assemble(pipeline, context, returned)
    except CompileError as exc:
        if exc.pipeline is not None:
            raise
        error = CompileError(exc.message, pipeline=pipeline.name, hint=exc.hint)
        error.task = exc.task
        raise error from None


def _assemble(pipeline: Pipeline, context: PipelineContext, returned: Any) -> dict[str, Any]:
    outputs = pipeline_outputs_dict(returned, pipeline)
    root: dict[str, Any] = _ir.interface(pipeline.component_spec)
    build = _Build(context, root, outputs)
    # kfp lets a lone component take a PipelineTaskFinalStatus (it is compiled to be
    # used as an exit task later).
    build.is_component = getattr(pipeline, "is_single_component", False)
    for group in build.graph.all_groups:
        _build_group(build, group)
    _build_exit_handlers(build, context.root)
    dag_outputs(root, build.pipeline_outputs, pipeline.component_spec, pipeline.name)
    info: dict[str, Any] = {"name": pipeline.name}
    if pipeline.display_name is not None:
        info["displayName"] = pipeline.display_name
    if pipeline.description is not None:
        info["description"] = pipeline.description
    spec: dict[str, Any] = {
        "components": build.components,
        "deploymentSpec": {"executors": build.executors},
        "pipelineInfo": info,
        "root": root,
        "schemaVersion": SCHEMA_VERSION,
        "sdkVersion": SDK_VERSION,
    }
    if pipeline.pipeline_root is not None:
        spec["defaultPipelineRoot"] = pipeline.pipeline_root
    config = getattr(pipeline, "pipeline_config", None)
    pipeline_config = config.platform_config() if config is not None else {}
    if build.platform or pipeline_config:
        spec[PLATFORM_KEY] = platform_spec(build.platform, pipeline_config)
    return spec


def _check_name(name: str) -> None:
    if name == "" or len(name) > 128 or not name[0].isalnum():
        raise CompileError(
            f"invalid pipeline name {name!r}",
            hint="use a name matching ^[a-z0-9][a-z0-9-]{0,127}$ in @dsl.pipeline(name=...)",
        )


def sub_pipeline_spec(pipeline: Pipeline) -> dict[str, Any]:
    """The IR of a pipeline used as a component (built once, then copied)."""
    cached = getattr(pipeline, "_pinnace_spec", None)
    if cached is None:
        cached = create_pipeline_spec(pipeline)
        pipeline._pinnace_spec = cached  # type: ignore[attr-defined]
    return copy.deepcopy(cached)


def build_pipeline_spec(pipeline: Pipeline) -> dict[str, Any]:
    return create_pipeline_spec(pipeline)


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
    holder.is_single_component = True  # type: ignore[attr-defined]
    return build_pipeline_spec(holder)
