"""Command-line placeholders of the KFP spec (`{{$.inputs.parameters['x']}}` and friends)."""

from __future__ import annotations

import json
from typing import Any

EXECUTOR_INPUT = "{{$}}"


def input_value(name: str) -> str:
    return f"{{{{$.inputs.parameters['{name}']}}}}"


def input_path(name: str) -> str:
    return f"{{{{$.inputs.artifacts['{name}'].path}}}}"


def input_uri(name: str) -> str:
    return f"{{{{$.inputs.artifacts['{name}'].uri}}}}"


def output_parameter(name: str) -> str:
    return f"{{{{$.outputs.parameters['{name}'].output_file}}}}"


def output_path(name: str) -> str:
    return f"{{{{$.outputs.artifacts['{name}'].path}}}}"


def output_uri(name: str) -> str:
    return f"{{{{$.outputs.artifacts['{name}'].uri}}}}"


class Placeholder:
    """A run-time value in a container component's command line (kfp's placeholders);
    usable in f-strings, where it becomes its `{{$...}}` text."""

    template = ""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.template.replace("NAME", self.name)


class InputValuePlaceholder(Placeholder):
    template = "{{$.inputs.parameters['NAME']}}"


class InputPathPlaceholder(Placeholder):
    template = "{{$.inputs.artifacts['NAME'].path}}"


class InputUriPlaceholder(Placeholder):
    template = "{{$.inputs.artifacts['NAME'].uri}}"


class InputMetadataPlaceholder(Placeholder):
    template = "{{$.inputs.artifacts['NAME'].metadata}}"


class InputListOfArtifactsPlaceholder(Placeholder):
    template = "{{$.inputs.artifacts['NAME']}}"


class OutputParameterPlaceholder(Placeholder):
    template = "{{$.outputs.parameters['NAME'].output_file}}"


class OutputPathPlaceholder(Placeholder):
    template = "{{$.outputs.artifacts['NAME'].path}}"


class OutputUriPlaceholder(Placeholder):
    template = "{{$.outputs.artifacts['NAME'].uri}}"


class OutputMetadataPlaceholder(Placeholder):
    template = "{{$.outputs.artifacts['NAME'].metadata}}"


class OutputListOfArtifactsPlaceholder(Placeholder):
    template = "{{$.outputs.artifacts['NAME']}}"


class ConcatPlaceholder:
    """Concatenation of several command-line elements (serialized as JSON, as kfp does)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def to_struct(self) -> dict[str, Any]:
        return {"Concat": [to_struct(item) for item in self.items]}

    def __str__(self) -> str:
        return json.dumps(self.to_struct())


class IfPresentPlaceholder:
    """`then` when the input is given, else `else_` (serialized as JSON, as kfp does)."""

    def __init__(self, input_name: str, then: Any, else_: Any = None) -> None:
        self.input_name = input_name
        self.then = then
        self.else_ = else_

    def to_struct(self) -> dict[str, Any]:
        def convert(part: Any) -> Any:
            return [to_struct(p) for p in part] if isinstance(part, list) else to_struct(part)

        struct: dict[str, Any] = {
            "IfPresent": {"InputName": self.input_name, "Then": convert(self.then)}
        }
        if self.else_:
            struct["IfPresent"]["Else"] = convert(self.else_)
        return struct

    def __str__(self) -> str:
        return json.dumps(self.to_struct())


def to_struct(element: Any) -> Any:
    """A command-line element inside a Concat/IfPresent: structs stay structs."""
    if isinstance(element, (ConcatPlaceholder, IfPresentPlaceholder)):
        return element.to_struct()
    if isinstance(element, Placeholder):
        return str(element)
    return element


def to_string(element: Any) -> Any:
    """A top-level command-line element as the string the spec holds."""
    if isinstance(element, (ConcatPlaceholder, IfPresentPlaceholder, Placeholder)):
        return str(element)
    return element


# Run-time values the backend fills in (kfp 2.x `dsl.PIPELINE_*_PLACEHOLDER`).
PIPELINE_JOB_NAME_PLACEHOLDER = "{{$.pipeline_job_name}}"
PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER = "{{$.pipeline_job_resource_name}}"
PIPELINE_JOB_ID_PLACEHOLDER = "{{$.pipeline_job_uuid}}"
PIPELINE_TASK_NAME_PLACEHOLDER = "{{$.pipeline_task_name}}"
PIPELINE_TASK_ID_PLACEHOLDER = "{{$.pipeline_task_uuid}}"
PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER = "{{$.outputs.output_file}}"
PIPELINE_ROOT_PLACEHOLDER = "{{$.pipeline_root}}"
PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER = "{{$.pipeline_job_create_time_utc}}"
PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER = "{{$.pipeline_job_schedule_time_utc}}"
WORKSPACE_PATH_PLACEHOLDER = "{{$.workspace_path}}"
