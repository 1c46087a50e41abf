"""In-memory component interface: input/output specs, container, resources, retry, names."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from typing import Any

from ..errors import CompileError
from ..runtime import types as io_types

# Parameter type names as kfp writes them in memory (`String`, `Integer`, ...).
IR_TO_SPEC_TYPE = {
    "STRING": "String",
    "NUMBER_INTEGER": "Integer",
    "NUMBER_DOUBLE": "Float",
    "LIST": "List",
    "STRUCT": "Dict",
    "BOOLEAN": "Boolean",
}
_PYTHON_TO_SPEC_TYPE = {
    str: "String",
    int: "Integer",
    float: "Float",
    bool: "Boolean",
    list: "List",
    dict: "Dict",
}


@functools.lru_cache(maxsize=4096)
def rename_for_k8s(name: str) -> str:
    """Lower-case a name and keep only `[-0-9a-z]`, as kfp does for task and component names.

    Cached: a pipeline's builder renames each task and group name several times."""
    cleaned = re.sub("[^-0-9a-z]+", "-", name.lower())
    return re.sub("-+", "-", cleaned).strip("-")


def sanitize_input_name(name: str) -> str:
    """`Input file` -> `input_file`: the rule kfp applies to v1 input and output names."""
    return re.sub("[^_0-9a-z]+", "_", name.lower()).strip("_")


def unique_name(name: str, taken: Any, delimiter: str = "-") -> str:
    """`name`, or `name-2`, `name-3`... whichever is not in `taken` yet."""
    if name not in taken:
        return name
    index = 2
    while f"{name}{delimiter}{index}" in taken:
        index += 1
    return f"{name}{delimiter}{index}"


def python_type_name(value_type: type) -> str | None:
    """`str` -> `String`; None for a type that is not a parameter type."""
    return _PYTHON_TO_SPEC_TYPE.get(value_type)


def ir_parameter_type(type_: Any) -> str | None:
    """The IR parameter type (`STRING`, ...) of a spec type, or None for an artifact."""
    if isinstance(type_, str) and type_.startswith("Optional[") and type_.endswith("]"):
        type_ = type_[len("Optional[") : -1]
    return io_types.parameter_type_name(type_)


def is_task_final_status(type_: Any) -> bool:
    """True for the `PipelineTaskFinalStatus` input type of exit tasks."""
    return type_ == "PipelineTaskFinalStatus" or io_types.is_task_final_status(type_)


def is_parameter_type(type_: Any) -> bool:
    """True when the spec type is a parameter (not an artifact)."""
    return ir_parameter_type(type_) is not None


def artifact_schema(type_: str) -> tuple[str, str]:
    """`system.Dataset@0.0.1` -> (`system.Dataset`, `0.0.1`)."""
    title, _, version = type_.partition("@")
    return title, version or io_types.DEFAULT_SCHEMA_VERSION


@dataclasses.dataclass
class InputSpec:
    """One input of a component: its type, default and whether it may be omitted."""

    type: Any
    default: Any = None
    optional: bool = False
    is_artifact_list: bool = False
    description: str | None = None


@dataclasses.dataclass
class OutputSpec:
    """One output of a component."""

    type: Any
    is_artifact_list: bool = False
    description: str | None = None


@dataclasses.dataclass
class ResourceSpec:
    """Resource requests and limits of a task's container, as strings like kfp keeps them."""

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    accelerator_type: str | None = None
    accelerator_count: str | None = None


@dataclasses.dataclass
class ContainerSpec:
    """How a component runs: image, command and args (placeholders already strings)."""

    image: str
    command: list[str] = dataclasses.field(default_factory=list)
    args: list[str] = dataclasses.field(default_factory=list)
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    resources: ResourceSpec | None = None

    def copy(self) -> ContainerSpec:
        """A copy that a task may change, as `copy.deepcopy` makes it, without its cost
        for each task of a wide pipeline when the fields hold only strings."""
        strings = [self.image, *self.command, *self.args, *self.env.keys(), *self.env.values()]
        if type(self) is not ContainerSpec or not all(type(s) is str for s in strings):
            return copy.deepcopy(self)
        resources = self.resources
        if resources is not None:
            if type(resources) is not ResourceSpec:
                return copy.deepcopy(self)
            resources = dataclasses.replace(resources)
        return ContainerSpec(
            image=self.image,
            command=list(self.command),
            args=list(self.args),
            env=dict(self.env),
            resources=resources,
        )


@dataclasses.dataclass
class RetryPolicy:
    """A task's retry settings; `to_ir` fills kfp's defaults."""

    max_retry_count: int | None = None
    backoff_duration: str | None = None
    backoff_factor: float | None = None
    backoff_max_duration: str | None = None

    def to_ir(self) -> dict[str, Any]:
        return {
            "maxRetryCount": self.max_retry_count or 0,
            "backoffDuration": f"{duration_seconds(self.backoff_duration or '0s')}s",
            "backoffFactor": self.backoff_factor or 2.0,
            "backoffMaxDuration": f"{duration_seconds(self.backoff_max_duration or '3600s')}s",
        }


_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def duration_seconds(duration: str) -> int:
    """'1h', '2 hours', '30s' -> seconds (kfp's rule: a number and a unit)."""
    parts = [p for p in re.split(r"(\D+)", str(duration).replace(" ", "")) if p]
    if len(parts) != 2 or not parts[0].isdigit():
        raise CompileError(
            f"invalid duration {duration!r}",
            hint="write a number and a unit, such as '30s', '5m' or '1 hour'",
        )
    unit = parts[1][0]
    if unit not in _SECONDS_PER_UNIT:
        raise CompileError(
            f"unsupported duration unit {parts[1]!r} in {duration!r}",
            hint="use seconds, minutes, hours, days or weeks",
        )
    return int(parts[0]) * _SECONDS_PER_UNIT[unit]


@dataclasses.dataclass
class ComponentSpec:
    """A component: name, interface and implementation (a container, or a pipeline graph)."""

    name: str
    inputs: dict[str, InputSpec] = dataclasses.field(default_factory=dict)
    outputs: dict[str, OutputSpec] = dataclasses.field(default_factory=dict)
    container: ContainerSpec | None = None
    description: str | None = None
    #: `dsl.importer`'s implementation: an ImporterSpec instead of a container.
    importer: Any = None
    #: A pipeline used as a component: the `Pipeline` whose IR implements it.
    graph: Any = None

    def __post_init__(self) -> None:
        self.name = rename_for_k8s(self.name)

    @property
    def required_inputs(self) -> list[str]:
        return [name for name, spec in self.inputs.items() if not spec.optional]
