"""kfp 1.x `component.yaml` (v1 ComponentSpec) -> component, converted as kfp 2.17.3 does.

As in kfp 2.x, an input or output whose type is a parameter type (`String`, `Integer`...)
is a parameter even when passed through a file: an `outputPath` of type `String` is an
output parameter written to a file, and an `inputPath` of a parameter type compiles to an
artifact path placeholder, which Pinnace's engine fills with a file holding the value.

Components made from functions by the kfp 1.x function API (`create_component_from_func`,
which kfp 2.x does not have) keep kfp 1.x's file passing: `InputPath(str)` and
`OutputPath(str)` are artifacts there (CSV files, models travel as files and show as
artifacts), `files_as_artifacts=True`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from ..dsl.graph import (
    IR_TO_SPEC_TYPE,
    ComponentSpec,
    ContainerSpec,
    InputSpec,
    OutputSpec,
    ir_parameter_type,
    sanitize_input_name,
)
from ..dsl.graph import placeholders as ph
from ..errors import SpecError
from ..runtime import types as io_types

_GOOGLE_TYPE = re.compile(r"^google.[A-Za-z]+$")
_ARTIFACTS = {cls.__name__.lower(): cls for cls in io_types.ARTIFACT_CLASSES}


def _truth(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    if lowered in ("y", "yes", "t", "true", "on", "1"):
        return True
    if lowered in ("n", "no", "f", "false", "off", "0"):
        return False
    raise SpecError(f"invalid boolean default {value!r}", hint="use true or false")


def _json_or_text(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


_DEFAULT_CASTS: dict[str, Callable[[Any], Any]] = {
    "integer": int,
    "int": int,
    "double": float,
    "float": float,
    "string": str,
    "str": str,
    "text": str,
    "bool": _truth,
    "boolean": _truth,
    "dict": _json_or_text,
    "list": _json_or_text,
    "jsonobject": _json_or_text,
    "jsonarray": _json_or_text,
}


def _outer_type(type_: Any) -> Any:
    if not isinstance(type_, str):
        return type_
    type_ = type_.removeprefix("typing.")
    if type_.lower().startswith(("list", "dict")):
        return type_.split("[")[0]
    return type_


def _spec_type(type_: Any) -> tuple[Any, bool]:
    """(in-memory type, is parameter) of a v1 type name."""
    type_ = _outer_type(type_)
    if isinstance(type_, str):
        ir_type = ir_parameter_type(type_.lower()) if type_.lower() in _DEFAULT_CASTS else None
        if ir_type:
            return IR_TO_SPEC_TYPE[ir_type], True
        if _GOOGLE_TYPE.match(type_):
            return io_types.bundled_artifact_type(type_), False
        if type_.lower() in _ARTIFACTS:
            cls = _ARTIFACTS[type_.lower()]
            return io_types.bundled_artifact_type(cls.schema_title, cls.schema_version), False
    return io_types.bundled_artifact_type("system.Artifact"), False


def _file_io_names(elements: Any, keys: tuple[str, ...]) -> set[str]:
    """Names used with file placeholders (`inputPath`, `outputPath`...) anywhere in a list."""
    found: set[str] = set()
    if isinstance(elements, list):
        for element in elements:
            found |= _file_io_names(element, keys)
    elif isinstance(elements, dict):
        for key, value in elements.items():
            if key in keys and isinstance(value, str):
                found.add(value)
            else:
                found |= _file_io_names(value, keys)
    return found


def _file_type(type_: Any) -> str:
    """A file input/output of a v1 spec is an artifact: its artifact class, else Artifact."""
    spec_type, is_param = _spec_type(type_)
    return io_types.bundled_artifact_type("system.Artifact") if is_param else spec_type


def _inputs(component: dict, files: set[str]) -> dict[str, InputSpec]:
    """`files`: the names passed through files that stay artifacts (the function API)."""
    inputs: dict[str, InputSpec] = {}
    for spec in component.get("inputs") or []:
        raw_type = spec.get("type")
        if raw_type == "PipelineTaskFinalStatus":
            # filled in by the engine for exit tasks, never passed by the caller (as kfp)
            name = sanitize_input_name(spec["name"])
            inputs[name] = InputSpec(type="PipelineTaskFinalStatus", optional=True)
            continue
        optional = spec.get("optional", False) or "default" in spec
        default = spec.get("default")
        if default is not None and isinstance(raw_type, str):
            default = _DEFAULT_CASTS.get(raw_type.lower(), lambda v: v)(default)
        type_, is_param = _spec_type(raw_type)
        if spec["name"] in files:
            type_, is_param = _file_type(raw_type), False
        if not is_param and not optional:
            default = None
        inputs[sanitize_input_name(spec["name"])] = InputSpec(
            type=type_, default=default, optional=optional
        )
    return inputs


def _outputs(component: dict, files: set[str]) -> dict[str, OutputSpec]:
    return {
        sanitize_input_name(spec["name"]): OutputSpec(
            type=_file_type(spec.get("type"))
            if spec["name"] in files
            else _spec_type(spec.get("type"))[0]
        )
        for spec in component.get("outputs") or []
    }


def _convert(arg: Any, component: dict, files_as_artifacts: bool = False) -> Any:
    """One v1 command-line element -> the kfp 2.x placeholder string or struct."""
    if isinstance(arg, str):
        return arg
    if not isinstance(arg, dict) or len(arg) != 1:
        raise SpecError(
            f"unexpected command-line element {arg!r}",
            field="implementation.container",
            hint="use a string or one placeholder such as {inputValue: name}",
        )
    key, value = next(iter(arg.items()))
    simple = {
        "inputValue": ph.input_value,
        "inputPath": ph.input_path,
        "inputUri": ph.input_uri,
        "outputUri": ph.output_uri,
    }
    if key in simple:
        return simple[key](sanitize_input_name(value))
    if key == "outputPath":
        for output in component.get("outputs") or []:
            if output["name"] == value:
                name = sanitize_input_name(value)
                if _spec_type(output.get("type"))[1] and not files_as_artifacts:
                    return ph.output_parameter(name)
                return ph.output_path(name)
        raise SpecError(
            f"{value!r} is not an output of the component",
            field="implementation.container",
            hint="declare it under outputs:",
        )
    if key == "executorInput":
        return ph.EXECUTOR_INPUT
    if key == "concat":
        return ph.ConcatPlaceholder([_convert(v, component, files_as_artifacts) for v in value])
    if key == "if":
        then, else_ = value["then"], value.get("else")
        then = (
            [_convert(v, component, files_as_artifacts) for v in then]
            if isinstance(then, list)
            else _convert(then, component, files_as_artifacts)
        )
        if isinstance(else_, list):
            else_ = [_convert(v, component, files_as_artifacts) for v in else_]
        # a non-list `else` stays as written, like kfp 2.17.3 leaves it
        return ph.IfPresentPlaceholder(sanitize_input_name(value["cond"]["isPresent"]), then, else_)
    raise SpecError(
        f"unsupported placeholder {key!r}",
        field="implementation.container",
        hint="see the kfp 1.x component.yaml placeholder reference",
    )


def spec_from_v1(component: dict, *, files_as_artifacts: bool = False) -> ComponentSpec:
    """The component spec of a kfp 1.x `component.yaml` dict (see the module docstring)."""
    component = copy.deepcopy(component)
    container = (component.get("implementation") or {}).get("container")
    if container is None:
        raise SpecError(
            "only container implementations are supported",
            field="implementation",
            hint="graph components are not supported yet",
        )
    if "image" not in container:
        raise SpecError(
            "missing image", field="implementation.container.image", hint="set the container image"
        )
    files = files_as_artifacts

    def convert(element: Any) -> Any:
        return ph.to_string(_convert(element, component, files))

    command = [convert(c) for c in container.get("command") or []]
    args = [convert(c) for c in container.get("args") or []]
    env = {k: convert(v) for k, v in (container.get("env") or {}).items()}
    parts = [container.get("command"), container.get("args"), container.get("env")] if files else []
    return ComponentSpec(
        name=component.get("name", "name"),
        inputs=_inputs(component, _file_io_names(parts, ("inputPath", "inputUri"))),
        outputs=_outputs(component, _file_io_names(parts, ("outputPath", "outputUri"))),
        container=ContainerSpec(image=container["image"], command=command, args=args, env=env),
        description=component.get("description"),
    )
