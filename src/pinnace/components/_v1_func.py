"""kfp 1.x components from Python functions: the ComponentSpec of create_component_from_func."""

from __future__ import annotations

import inspect
import re
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import CompileError
from . import _v1_data_passing as data_passing
from ._v1_codegen import (
    INPUT_STYLES,
    OUTPUT_STYLES,
    Port,
    container_command_and_args,
)
from ._v1_docstring import parse_docstring
from ._v1_source import function_source

DEFAULT_BASE_IMAGE = "python:3.7"
_SINGLE_OUTPUT_NAME = "Output"


def func_to_v1_component_spec(
    func: Callable,
    *,
    base_image: str | None = None,
    packages_to_install: list[str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict:
    """Return the kfp 1.x ComponentSpec (as a plain dict) of a Python function.

    The dict equals what kfp 1.8's ``create_component_from_func(func, base_image=...,
    packages_to_install=..., annotations=...)`` writes to ``output_component_file``,
    loaded back from YAML. Example::

        def add(a: float, b: float) -> float:
            return a + b

        spec = func_to_v1_component_spec(add, packages_to_install=["numpy"])
        spec["outputs"]  # [{"name": "Output", "type": "Float"}]
    """
    name = getattr(func, "_component_human_name", None) or component_name(func.__name__)
    short_description, param_docs = parse_docstring(inspect.getdoc(func))
    description = getattr(func, "_component_description", None) or short_description
    description = description.strip() if description else None
    ports, specs = _interface(func, name, param_docs)
    command, args = container_command_and_args(
        func.__name__,
        function_source(func),
        (name, description or ""),
        ports,
        _returns_single_value(inspect.signature(func).return_annotation),
        list(packages_to_install or []),
    )
    spec: dict[str, Any] = {"name": name}
    if description is not None:
        spec["description"] = description
    if annotations:
        spec["metadata"] = {"annotations": dict(annotations)}
    for key in ("inputs", "outputs"):
        if specs[key]:
            spec[key] = specs[key]
    container = {"image": _base_image(func, base_image), "command": command, "args": args}
    spec["implementation"] = {"container": container}
    return spec


def component_name(function_name: str) -> str:
    """`download_dataset` -> "Download dataset" (kfp 1.8's rule: only the first letter up)."""
    words = re.sub(" +", " ", function_name.replace("_", " ")).strip(" ")
    return words[:1].upper() + words[1:]


def _base_image(func: Callable, base_image: str | None) -> str:
    decorated = getattr(func, "_component_base_image", None)
    if decorated is not None and base_image is not None and decorated != base_image:
        raise CompileError(
            f"base_image {base_image!r} conflicts with {decorated!r} set on the function",
            task=func.__name__,
            hint="pass the same base_image, or leave one of them out",
        )
    return decorated or base_image or DEFAULT_BASE_IMAGE


def _interface(
    func: Callable, name: str, docs: dict[str, str]
) -> tuple[list[Port], dict[str, list[dict]]]:
    """The component's ports (for the program) and input/output specs (for the dict)."""
    ports: list[Port] = []
    specs: dict[str, list[dict]] = {"inputs": [], "outputs": []}
    taken: dict[bool, set[str]] = {False: set(), True: set()}
    signature = inspect.signature(func)
    for parameter in signature.parameters.values():
        port, spec = _parameter_port(parameter, name, taken, docs)
        ports.append(port)
        specs["outputs" if port.is_output else "inputs"].append(spec)
    for port in _return_ports(signature.return_annotation, name, taken[True]):
        ports.append(port)
        specs["outputs"].append(_type_entry({"name": port.name}, port.type))
    return ports, specs


def _parameter_port(
    parameter: inspect.Parameter, component: str, taken: dict[bool, set[str]],
    docs: dict[str, str],
) -> tuple[Port, dict]:  # fmt: skip
    annotation = _strip_optional(parameter.annotation)
    style, io_name, has_default = None, parameter.name, parameter.default is not parameter.empty
    if _path_style(annotation):
        style = type(annotation).__name__
        # Inside the task the function sees a path, outside it is the data itself:
        # `model_path` is the input "model", `data_file` is "data".
        if style in ("InputPath", "OutputPath") and io_name.endswith("_path"):
            io_name = io_name[: -len("_path")]
        if io_name.endswith("_file"):
            io_name = io_name[: -len("_file")]
        if has_default and not (style == "InputPath" and parameter.default is None):
            raise CompileError(
                f"parameter {parameter.name!r} ({style}) has a default value",
                task=component,
                hint="path inputs accept only a default of None; outputs accept none",
            )
        annotation = annotation.type
    is_output = style in OUTPUT_STYLES
    io_name = _unique(io_name, taken[is_output])
    type_struct = _type_struct(annotation)
    port = Port(io_name, type_struct, style, parameter.name, is_output, has_default)
    spec = _type_entry({"name": io_name}, type_struct)
    if parameter.name in docs:
        spec["description"] = docs[parameter.name]
    if not is_output and has_default:
        if parameter.default is not None:
            default = _serialized_default(parameter, type_struct)
            if default is not None:
                spec["default"] = default
        spec["optional"] = True
    return port, spec


def _return_ports(annotation: Any, component: str, taken: set[str]) -> list[Port]:
    if hasattr(annotation, "_fields"):  # a NamedTuple: one output per field
        fields = getattr(annotation, "__annotations__", None) or {}
        return [
            Port(_unique(field, taken), _type_struct(fields.get(field)), None, None, True)
            for field in annotation._fields
        ]
    if isinstance(annotation, dict):
        raise CompileError(
            "a dict return annotation is not supported (kfp 1.8 fails on it too)",
            task=component,
            hint="declare several outputs with typing.NamedTuple",
        )
    if annotation is None or annotation is inspect.Signature.empty:
        return []
    return [Port(_unique(_SINGLE_OUTPUT_NAME, taken), _type_struct(annotation), None, None, True)]


def _returns_single_value(annotation: Any) -> bool:
    return not (
        annotation is None
        or annotation is inspect.Signature.empty
        or isinstance(annotation, dict)
        or hasattr(annotation, "_fields")
    )


def _path_style(annotation: Any) -> bool:
    # Duck-typed on the class name so that kfp's, Pinnace's and user copies all work.
    name = type(annotation).__name__
    return (name in INPUT_STYLES or name in OUTPUT_STYLES) and hasattr(annotation, "type")


def _strip_optional(annotation: Any) -> Any:
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is typing.Union and args[1] is type(None):
        return args[0]
    return annotation


def _type_struct(annotation: Any) -> Any:
    """kfp 1.8's type for an annotation: "String", "JsonArray", a dict, or a name."""
    if annotation is None or annotation is inspect.Parameter.empty or not annotation:
        return None
    if hasattr(annotation, "to_dict"):
        annotation = annotation.to_dict()
    if isinstance(annotation, dict):
        return annotation
    if isinstance(annotation, type):
        return data_passing.canonical_type_name(annotation) or str(annotation.__name__)
    if hasattr(annotation, "__forward_arg__"):
        return str(annotation.__forward_arg__)
    return str(annotation)


def _type_entry(entry: dict, type_struct: Any) -> dict:
    if type_struct is not None:
        entry["type"] = type_struct
    return entry


def _serialized_default(parameter: inspect.Parameter, type_struct: Any) -> str | None:
    type_name = next(iter(type_struct)) if isinstance(type_struct, dict) else type_struct
    try:
        return data_passing.serialize_default(parameter.default, type_name)
    except Exception as exc:  # kfp 1.8 warns and leaves the default out; so do we
        warnings.warn(
            f"Could not serialize the default value of the parameter {parameter.name!r}: {exc}",
            stacklevel=4,
        )
        return None


def _unique(name: str, taken: set[str]) -> str:
    unique, index = name, 2
    while unique in taken:
        unique, index = f"{name}_{index}", index + 1
    taken.add(unique)
    return unique
