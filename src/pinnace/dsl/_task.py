"""PipelineTask: one call of a component inside a pipeline function."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import CompileError
from ._channel import PipelineChannel, channels_in, create_channel
from ._context import PipelineContext, TasksGroup
from ._loops import LoopArgumentVariable, LoopParameterArgument
from ._structures import (
    ComponentSpec,
    ResourceSpec,
    RetryPolicy,
    artifact_schema,
    ir_parameter_type,
    is_task_final_status,
    python_type_name,
    sanitize_input_name,
)

_CPU = re.compile(r"([0-9]*[.])?[0-9]+m?$")
_MEMORY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki){0,1}$")


class TaskOutputs(Mapping):
    """`task.outputs[...]`: a mapping that names the available outputs on a miss."""

    def __init__(self, task_name: str, channels: dict[str, PipelineChannel]) -> None:
        self._task_name = task_name
        self._channels = channels

    def __getitem__(self, key: str) -> PipelineChannel:
        try:
            return self._channels[key]
        except KeyError:
            # kfp 1.x code names outputs as its component.yaml does (`Output`, `Output path`);
            # loaded into kfp 2.x they are sanitized (`output`, `output_path`).
            if isinstance(key, str) and sanitize_input_name(key) in self._channels:
                return self._channels[sanitize_input_name(key)]
            available = ", ".join(sorted(self._channels)) or "none"
            raise CompileError(
                f"task has no output {key!r}",
                task=self._task_name,
                hint=f"available outputs: {available}",
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


class PipelineTask:
    """A task of a pipeline: a component bound to its arguments.

    Created by calling a component inside a `@dsl.pipeline` function; the setters
    return the task so calls chain::

        train(data=prep.outputs["data"]).set_cpu_limit("2").set_retry(3)
    """

    def __init__(self, component_spec: ComponentSpec, args: dict[str, Any]) -> None:
        context = PipelineContext.active()
        if context is None:
            raise CompileError(
                f"component {component_spec.name!r} was called outside a pipeline function",
                hint="call components inside a @dsl.pipeline function, then compile or "
                "run the pipeline (pinnace.run)",
            )
        for name, value in args.items():
            _check_argument(component_spec, name, value)
        self.component_spec = component_spec
        self.parent_task_group: TasksGroup | None = None
        self.is_exit_handler = False
        self.ignore_upstream_failure_tag = False
        self.name = context.add_task(self)
        self.inputs: dict[str, Any] = dict(args)
        container = component_spec.container
        self.container = container.copy() if container is not None else None
        self.importer_spec = component_spec.importer
        self.display_name: str | None = None
        self.enable_caching = True
        self.cache_key: str | None = None
        self.retry_policy: RetryPolicy | None = None
        self.dependent_tasks: list[str] = []
        self._outputs = {
            out_name: create_channel(out_name, spec.type, self.name, spec.is_artifact_list, self)
            for out_name, spec in component_spec.outputs.items()
        }
        # As kfp: channels passed directly (keeping their kind: loop item, Collected,
        # OneOf), then channels found inside constants such as f-strings.
        direct = [v for v in args.values() if isinstance(v, PipelineChannel)]
        nested = channels_in([v for v in args.values() if not isinstance(v, PipelineChannel)])
        self.channel_inputs: list[PipelineChannel] = direct + nested
        #: platform settings by platform ("kubernetes"), written by `pinnace.kubernetes`
        #: (kfp-kubernetes' functions) as the JSON of their KubernetesExecutorConfig
        self.platform_config: dict[str, Any] = {}

    @property
    def outputs(self) -> Mapping[str, PipelineChannel]:
        """The task's outputs by name: `task.outputs["model"]`."""
        return TaskOutputs(self.name, self._outputs)

    @property
    def output(self) -> PipelineChannel:
        """The task's only output."""
        if len(self._outputs) != 1:
            names = ", ".join(sorted(self._outputs)) or "none"
            raise CompileError(
                f"task has {len(self._outputs)} outputs, so `.output` is ambiguous",
                task=self.name,
                hint=f"use task.outputs['<name>'] with one of: {names}",
            )
        return next(iter(self._outputs.values()))

    def register_pipeline_channels(self, pipeline_channels: list[PipelineChannel]) -> None:
        """Channels the task consumes besides its arguments (kfp-kubernetes' parameters):
        they reach the task's enclosing groups as inputs. Each pattern is added once."""
        known = {channel.pattern for channel in self.channel_inputs}
        for channel in pipeline_channels:
            if channel.pattern not in known:
                self.channel_inputs.append(channel)
                known.add(channel.pattern)

    _register_pipeline_channels = register_pipeline_channels

    def after(self, *tasks: PipelineTask) -> PipelineTask:
        """Run this task only after the given tasks (or dsl.ExitHandler groups) finished."""
        for task in tasks:
            if not isinstance(task, (PipelineTask, TasksGroup)):
                raise CompileError(
                    f".after() expects tasks, got {type(task).__name__}",
                    task=self.name,
                    hint="pass the task objects returned by component calls",
                )
            self.dependent_tasks.append(task.name)
        return self

    def ignore_upstream_failure(self) -> PipelineTask:
        """Run this task even when its upstream tasks failed (it may take a
        `PipelineTaskFinalStatus` of its one upstream task)."""
        for name, spec in self.component_spec.inputs.items():
            if is_task_final_status(spec.type):
                continue
            value = self.inputs.get(name)
            if isinstance(value, PipelineChannel) and not spec.optional and value.task_name:
                raise CompileError(
                    f"input {name!r} takes an output of the upstream task "
                    f"{value.task_name!r} but has no default value",
                    task=self.name,
                    hint="tasks using .ignore_upstream_failure() need defaults for inputs "
                    "fed by upstream tasks, in case those fail to produce them",
                )
        self.ignore_upstream_failure_tag = True
        return self

    def set_display_name(self, name: str) -> PipelineTask:
        self.display_name = name
        return self

    def set_caching_options(
        self, enable_caching: bool, cache_key: str | None = None
    ) -> PipelineTask:
        self.enable_caching = enable_caching
        self.cache_key = cache_key
        return self

    def set_retry(
        self,
        num_retries: int,
        backoff_duration: str | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | None = None,
    ) -> PipelineTask:
        policy = RetryPolicy(num_retries, backoff_duration, backoff_factor, backoff_max_duration)
        policy.to_ir()  # validate the durations now, where the user can see the line
        self.retry_policy = policy
        return self

    def set_env_variable(self, name: str, value: str) -> PipelineTask:
        self._container("set_env_variable").env[name] = value
        return self

    def set_container_image(self, name: Any) -> PipelineTask:
        """Run this task in another image (a constant or a pipeline parameter)."""
        self._container("set_container_image").image = str(name)
        self.channel_inputs.extend(channels_in(str(name)))  # as kfp registers them
        return self

    def set_cpu_request(self, cpu: Any) -> PipelineTask:
        self._resources("set_cpu_request").cpu_request = self._cpu(cpu)
        return self

    def set_cpu_limit(self, cpu: Any) -> PipelineTask:
        self._resources("set_cpu_limit").cpu_limit = self._cpu(cpu)
        return self

    def set_memory_request(self, memory: Any) -> PipelineTask:
        self._resources("set_memory_request").memory_request = self._memory(memory)
        return self

    def set_memory_limit(self, memory: Any) -> PipelineTask:
        self._resources("set_memory_limit").memory_limit = self._memory(memory)
        return self

    def add_node_selector_constraint(self, accelerator: Any) -> PipelineTask:
        """Deprecated in kfp 2: the accelerator type (`set_accelerator_type`)."""
        warnings.warn(
            "'add_node_selector_constraint' is deprecated. Please use "
            "'set_accelerator_type' instead.",
            category=DeprecationWarning,
            stacklevel=2,
        )
        return self.set_accelerator_type(accelerator)

    def set_debug_pause(
        self, before: bool = False, after: bool = True, on_error: bool = False
    ) -> PipelineTask:
        """Pause the task's pod for debugging on Kubeflow (Argo's debug variables); a local
        run ignores them."""
        if not after and on_error:
            raise CompileError(
                "'on_error' applies to post-execution pause and requires after=True. Got "
                "after=False, on_error=True - contradictory configuration.",
                task=self.name,
            )
        if not before and not after:
            raise CompileError(
                "At least one of 'before' or 'after' must be True. Got before=False, "
                "after=False - nothing to pause on.",
                task=self.name,
            )
        if before:
            self.set_env_variable("ARGO_DEBUG_PAUSE_BEFORE", "true")
        if after:
            name = "ARGO_DEBUG_PAUSE_ON_ERROR" if on_error else "ARGO_DEBUG_PAUSE_AFTER"
            self.set_env_variable(name, "true")
        return self

    def set_accelerator_type(self, accelerator: Any) -> PipelineTask:
        resources = self._resources("set_accelerator_type")
        resources.accelerator_type = str(accelerator)
        if resources.accelerator_count is None:
            resources.accelerator_count = "1"
        return self

    def set_accelerator_limit(self, limit: Any) -> PipelineTask:
        resources = self._resources("set_accelerator_limit")
        if not isinstance(limit, PipelineChannel):
            if isinstance(limit, int) and limit < 0:
                self._invalid("limit must be a non-negative integer.", limit)
            limit = str(limit)
            if re.match(r"^\d+$", limit) is None:
                self._invalid("limit must be a non-negative integer.", limit)
        resources.accelerator_count = str(limit)
        return self

    set_gpu_limit = set_accelerator_limit

    def _container(self, method: str) -> Any:
        if self.container is None:
            raise CompileError(
                f"{method} can only be used on tasks of container components",
                task=self.name,
                hint="set resources on the tasks inside the nested pipeline instead",
            )
        return self.container

    def _resources(self, method: str) -> ResourceSpec:
        container = self._container(method)
        if container.resources is None:
            container.resources = ResourceSpec()
        return container.resources

    def _invalid(self, message: str, value: Any) -> None:
        raise CompileError(
            f"{message} Got {value!r}.",
            task=self.name,
            hint="see the Kubernetes resource units documentation",
        )

    def _cpu(self, cpu: Any) -> str:
        if isinstance(cpu, PipelineChannel):
            return str(cpu)
        if not isinstance(cpu, str) or _CPU.match(cpu) is None:
            self._invalid(
                'Invalid cpu string. Should be float or integer, or integer followed by "m".', cpu
            )
        return cpu

    def _memory(self, memory: Any) -> str:
        if isinstance(memory, PipelineChannel):
            return str(memory)
        if not isinstance(memory, str) or _MEMORY.match(memory) is None:
            self._invalid(
                "Invalid memory string. Should be a number or a number followed "
                'by one of "E", "Ei", "P", "Pi", "T", "Ti", "G", "Gi", "M", "Mi", '
                '"K", "Ki".',
                memory,
            )
        return memory


def _given_type(value: Any, component: str, name: str) -> Any:
    if isinstance(value, PipelineChannel):
        return value.channel_type
    type_name = python_type_name(type(value))
    if type_name is None:
        raise CompileError(
            f"argument {name!r} of component {component!r} is a {type(value).__name__}, "
            "which cannot be passed as a constant",
            hint="pass str, int, float, bool, list or dict constants, or another task's output",
        )
    return type_name


def _check_argument(spec: ComponentSpec, name: str, value: Any) -> None:
    """kfp's type check of one argument against the component input it is bound to."""
    expected = spec.inputs[name]
    given = _given_type(value, spec.name, name)
    if isinstance(value, (LoopParameterArgument, LoopArgumentVariable)) and given == "String":
        return  # kfp: an item of unknown type fits any input
    problem = _incompatible(value, given, expected)
    if problem:
        raise CompileError(
            f"incompatible argument passed to the input {name!r} of component "
            f"{spec.name!r}: argument type {problem[0]!r} is incompatible with the input "
            f"type {problem[1]!r}",
            hint="pass a value or an output of the input's type",
        )


def _check_output_type(channel: Any, spec: ComponentSpec, name: str, count: int) -> None:
    """A pipeline output must have the type its return annotation declares."""
    problem = _incompatible(channel, channel.channel_type, spec.outputs[name])
    if problem:
        shown = "" if count == 1 else f"{name!r} "
        raise CompileError(
            f"Incompatible return type provided for output {shown}of pipeline "
            f"{spec.name!r}. Output of type {problem[0]!r} cannot be surfaced as pipeline "
            f"output type {problem[1]!r}",
            hint="fix the pipeline's return annotation or return another output",
        )


def _incompatible(value: Any, given: Any, expected: Any) -> tuple[str, str] | None:
    """(given, expected) type names when they do not fit, else None."""
    given_param, expected_param = ir_parameter_type(given), ir_parameter_type(expected.type)
    given_list = False if given_param else getattr(value, "is_artifact_list", False)
    expected_list = False if expected_param else expected.is_artifact_list
    if bool(given_param) != bool(expected_param):
        ok = False
    elif given_param:
        ok = given_param == expected_param
    else:
        ok = _artifacts_compatible(given, expected.type) and given_list == expected_list
    if ok:
        return None
    shown_given = given_param or (f"List[{given}]" if given_list else given)
    shown_expected = expected_param or (
        f"List[{expected.type}]" if expected_list else expected.type
    )
    return str(shown_given), str(shown_expected)


def _artifacts_compatible(given: str, expected: str) -> bool:
    given_title, given_version = artifact_schema(given)
    expected_title, expected_version = artifact_schema(expected)
    if "system.Artifact" in (given_title, expected_title):
        return True
    return given_title == expected_title and (
        given_version.split(".")[0] == expected_version.split(".")[0]
    )
