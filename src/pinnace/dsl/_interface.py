"""Turn a Python function's signature into a component interface, as kfp 2.x reads it."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from ..errors import CompileError
from ..runtime import types as io_types
from . import _docstring
from ._structures import ComponentSpec, InputSpec, OutputSpec, is_parameter_type, python_type_name

SINGLE_OUTPUT_NAME = "Output"


def function_to_component_name(name: str) -> str:
    """`add_numbers` -> `Add numbers`; the spec name then becomes `add-numbers` (as in kfp)."""
    spaced = re.sub(" +", " ", name.replace("_", " ")).strip(" ")
    return spaced[0].upper() + spaced[1:]


def annotation_to_type(annotation: Any) -> Any:
    """A parameter annotation as kfp writes its type (`String`, `typing.List[int]`, ...)."""
    if annotation is None or annotation is inspect.Parameter.empty:
        return None
    if hasattr(annotation, "to_dict"):
        annotation = annotation.to_dict()
    if isinstance(annotation, dict):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        if getattr(annotation, "__module__", None) in ("typing", "typing_extensions"):
            return str(annotation)
        outer = python_type_name(origin)
        inner = [annotation_to_type(a) or str(a) for a in typing.get_args(annotation)]
        return f"{outer}[{', '.join(inner)}]" if inner else outer
    if isinstance(annotation, type):
        name = python_type_name(annotation)
        if name:
            return name
        title = (
            # Duck-typed artifact class (ours, kfp's or a custom one): has `schema_title`.
            annotation.schema_title  # type: ignore[attr-defined]
            if io_types.is_artifact_class(annotation)
            else (annotation.__name__)
        )
    elif hasattr(annotation, "__forward_arg__"):
        title = str(annotation.__forward_arg__)
    else:
        title = str(annotation)
    # kfp looks the title up in its Python-type table here too, but that table is keyed by
    # types, so a title string never matches: the title is the type.
    return title


def _is_artifact_class(obj: Any) -> bool:
    return isinstance(obj, type) and io_types.is_artifact_class(obj)


def _type_and_list(annotation: Any) -> tuple[Any, bool]:
    """Strip Input/Output/InputPath/OutputPath; return (spec type, is_artifact_list)."""
    if io_types.is_input_artifact(annotation) or io_types.is_output_artifact(annotation):
        annotation = annotation.__args__[0]
    if io_types.is_input_path(annotation) or io_types.is_output_path(annotation):
        annotation = annotation.type
    is_list = io_types.is_list_of_artifacts(annotation)
    if is_list:
        annotation = annotation.__args__[0]
    if _is_artifact_class(annotation):
        return io_types.bundled_artifact_type(
            annotation.schema_title, annotation.schema_version
        ), is_list
    return annotation_to_type(annotation), is_list


def _input_spec(annotation: Any, param: inspect.Parameter, where: str) -> InputSpec:
    if io_types.is_task_final_status(annotation):
        # Filled in by the engine for exit tasks, never passed by the caller.
        return InputSpec(type="PipelineTaskFinalStatus", optional=True)
    type_, is_list = _type_and_list(annotation)
    is_artifact = not _is_parameter(type_)
    has_default = param.default is not inspect.Parameter.empty
    if is_artifact and has_default and param.default is not None:
        raise CompileError(
            f"{where}: optional input artifact {param.name!r} may only default to None",
            hint="write `= None` or remove the default",
        )
    default = param.default if has_default and not is_artifact else None
    return InputSpec(type=type_, default=default, optional=has_default, is_artifact_list=is_list)


def _is_parameter(type_: Any) -> bool:
    return is_parameter_type(type_)


def _output_spec(annotation: Any) -> OutputSpec:
    type_, is_list = _type_and_list(annotation)
    return OutputSpec(type=type_, is_artifact_list=is_list)


def _unique(name: str, taken: dict[str, Any]) -> str:
    if name not in taken:
        return name
    for index in range(2, 100):
        if f"{name}_{index}" not in taken:
            return f"{name}_{index}"
    raise CompileError(f"too many arguments named {name!r}")


def _read_parameters(func: Callable, where: str) -> tuple[dict, dict]:
    inputs: dict[str, InputSpec] = {}
    outputs: dict[str, OutputSpec] = {}
    hints = _resolved_hints(func)
    for param in inspect.signature(func).parameters.values():
        if param.name == SINGLE_OUTPUT_NAME:
            raise CompileError(
                f"{where}: {SINGLE_OUTPUT_NAME!r} is an invalid parameter name",
                hint="rename the parameter",
            )
        annotation = io_types.strip_optional(hints.get(param.name, param.annotation))
        if annotation is inspect.Parameter.empty:
            raise CompileError(
                f"{where}: missing type annotation for argument {param.name!r}",
                hint="annotate every argument, e.g. `n: int`",
            )
        if io_types.is_embedded_input(annotation):
            continue  # filled at run time from the files embedded in the component, as kfp
        if io_types.is_output_artifact(annotation) or io_types.is_output_path(annotation):
            outputs[_unique(param.name, outputs)] = _output_spec(annotation)
        else:
            inputs[_unique(param.name, inputs)] = _input_spec(annotation, param, where)
    return inputs, outputs


def _resolved_hints(func: Callable) -> dict[str, Any]:
    """Annotations with string forms resolved (`from __future__ import annotations`)."""
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable names: fall back to the raw annotations
        return dict(getattr(func, "__annotations__", {}))


def _read_return(func: Callable) -> dict[str, OutputSpec]:
    annotation = _resolved_hints(func).get("return", inspect.signature(func).return_annotation)
    # `-> None` (which typing resolves to NoneType): no outputs, as in kfp
    if annotation is None or annotation is type(None) or annotation is inspect.Parameter.empty:
        return {}
    if hasattr(annotation, "_fields"):
        fields = _resolved_hints(annotation) or getattr(annotation, "__annotations__", {})
        outputs: dict[str, OutputSpec] = {}
        for name in annotation._fields:
            outputs[_unique(name, outputs)] = _output_spec(fields[name])
        return outputs
    return {SINGLE_OUTPUT_NAME: _output_spec(annotation)}


def extract_interface(
    func: Callable, name: str | None = None, description: str | None = None
) -> ComponentSpec:
    """The component (or pipeline) interface of a function: inputs, outputs, docs."""
    where = f"function {func.__name__!r}"
    inputs, outputs = _read_parameters(func, where)
    for out_name, spec in _read_return(func).items():
        outputs[_unique(out_name, outputs)] = spec
    doc = inspect.getdoc(func)
    for specs, sections in (
        (inputs, _docstring.ARG_SECTIONS),
        (outputs, _docstring.RETURN_SECTIONS),
    ):
        docs = _docstring.param_descriptions(doc, sections)
        for spec_name, spec in specs.items():
            if spec_name in docs:
                spec.description = docs[spec_name]
    return ComponentSpec(
        name=name or function_to_component_name(func.__name__),
        inputs=inputs,
        outputs=outputs,
        description=description or _docstring.description(doc),
    )
