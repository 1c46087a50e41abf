"""KFP placeholders in a container's command and args (`{{$.inputs.parameters['x']}}`, ...).

They are filled in where the execution runs, once its inputs are staged: artifact paths are
local paths on that machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\$(?P<body>[^{}]*)\}\}")
_INPUT_PARAM = re.compile(r"^\.inputs\.parameters\['(?P<n>[^']+)'\]$")
_INPUT_ART_LIST = re.compile(r"^\.inputs\.artifacts\['(?P<n>[^']+)'\]$")
_INPUT_ART = re.compile(r"^\.inputs\.artifacts\['(?P<n>[^']+)'\]\.(?P<f>path|uri|metadata)$")
_OUTPUT_PARAM = re.compile(r"^\.outputs\.parameters\['(?P<n>[^']+)'\]\.output_file$")
_OUTPUT_ART = re.compile(r"^\.outputs\.artifacts\['(?P<n>[^']+)'\]\.(?P<f>path|uri|metadata)$")


def resolve_placeholders(items: list[str], executor_input: Mapping[str, Any]) -> list[str]:
    """Replace KFP placeholders (`{{$}}`, `{{$.inputs.parameters['x']}}`, ...) in command/args.

    An `IfPresent`/`Concat` structure (JSON in an argument) is expanded first.
    """
    resolved: list[str] = []
    for item in items:
        expanded = _expand_structured(item, executor_input)
        resolved.extend(_substitute(part, executor_input) for part in expanded)
    return resolved


def resolve_resources(resources: Mapping[str, Any], executor_input: Mapping[str, Any]) -> Any:
    """A container's `resources` with input placeholders filled: kfp writes
    `set_cpu_limit(param)` as `resourceCpuLimit: "{{$.inputs.parameters['...']}}"`."""
    if isinstance(resources, Mapping):
        return {key: resolve_resources(value, executor_input) for key, value in resources.items()}
    if isinstance(resources, str):
        return _substitute(resources, executor_input)
    return resources


def _expand_structured(item: str, executor_input: Mapping[str, Any]) -> list[str]:
    if not (item.startswith('{"') and item.endswith("}")):
        return [item]
    try:
        data = json.loads(item)
    except ValueError:
        return [item]
    return _expand_node(data, executor_input)


def _expand_node(node: Any, executor_input: Mapping[str, Any]) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict) and "Concat" in node:
        return ["".join(s for part in node["Concat"] for s in _expand_node(part, executor_input))]
    if isinstance(node, dict) and "IfPresent" in node:
        spec = node["IfPresent"]
        name = spec.get("InputName", "")
        inputs = executor_input.get("inputs", {})
        present = (
            name in inputs.get("parameterValues", {})
            and inputs["parameterValues"][name] is not None
        ) or name in inputs.get("artifacts", {})
        branch = spec.get("Then" if present else "Else") or []
        if isinstance(branch, (str, dict)):  # one item, e.g. then=dsl.ConcatPlaceholder(...)
            branch = [branch]
        return [s for part in branch for s in _expand_node(part, executor_input)]
    return [json.dumps(node)]


def _substitute(text: str, executor_input: Mapping[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        return _placeholder_value(match.group("body"), executor_input, match.group(0))

    return _PLACEHOLDER.sub(replace, text)


def _placeholder_value(body: str, ei: Mapping[str, Any], original: str) -> str:
    if body == "":
        return json.dumps(ei)
    inputs, outputs = ei.get("inputs", {}), ei.get("outputs", {})
    if m := _INPUT_PARAM.match(body):
        value = inputs.get("parameterValues", {}).get(m["n"])
        return value if isinstance(value, str) else json.dumps(value)
    if m := _INPUT_ART_LIST.match(body):
        # The whole list (`Input[List[Dataset]]` handed to a container component): JSON, as
        # Vertex passes it, with each artifact's local path as its uri.
        return json.dumps(inputs.get("artifacts", {}).get(m["n"], {}).get("artifacts", []))
    if m := _INPUT_ART.match(body):
        if m["n"] not in inputs.get("artifacts", {}) and m["n"] in inputs.get(
            "parameterValues", {}
        ):
            return _parameter_file(m["n"], inputs["parameterValues"][m["n"]], ei, m["f"])
        artifact = inputs.get("artifacts", {}).get(m["n"], {}).get("artifacts", [{}])[0]
        return _artifact_field(artifact, m["f"])
    if m := _OUTPUT_PARAM.match(body):
        return outputs.get("parameters", {}).get(m["n"], {}).get("outputFile", "")
    if m := _OUTPUT_ART.match(body):
        artifact = outputs.get("artifacts", {}).get(m["n"], {}).get("artifacts", [{}])[0]
        return _artifact_field(artifact, m["f"])
    if body == ".outputs.output_file":
        return outputs.get("outputFile", "")
    return original


def _parameter_file(name: str, value: Any, ei: Mapping[str, Any], field: str) -> str:
    """A parameter read through a file (kfp 1.x `inputPath` of type String, Integer...):
    kfp 2.x compiles it to an artifact placeholder; the value is written to a file for it."""
    if field == "metadata":
        return "{}"
    folder = Path(ei.get("outputs", {}).get("outputFile", ".")).parent / "inputs" / "parameters"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return str(path)


def _artifact_field(artifact: Mapping[str, Any], field: str) -> str:
    if field == "metadata":
        return json.dumps(artifact.get("metadata", {}))
    # Locally the executor input's uri already is a local path.
    return str(artifact.get("uri", ""))
