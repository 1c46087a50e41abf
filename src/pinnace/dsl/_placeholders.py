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
    return element


def to_string(element: Any) -> Any:
    """A top-level command-line element as the string the spec holds."""
    if isinstance(element, (ConcatPlaceholder, IfPresentPlaceholder)):
        return str(element)
    return element
