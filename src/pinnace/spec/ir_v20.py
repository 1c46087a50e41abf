"""Upgrade a schemaVersion 2.0.0 PipelineSpec (kfp 1.8's `kfp.v2.compiler`) to 2.1.0.

What differs between the two, and what this rewrites (a copy; the input is not changed):
- parameters are typed `type: INT | DOUBLE | STRING` → `parameterType: NUMBER_INTEGER | ...`;
- constants are `constantValue: {intValue | doubleValue | stringValue}` → `constant` (task
  inputs and importer URIs);
- conditions read `inputs.parameters['x'].string_value` (or int_value, double_value) →
  `inputs.parameter_values['x']`;
- the PipelineJob's `runtimeConfig.parameters` (same typed values) become the root's defaults.
Everything else kfp 1.8 writes (DAGs, loops, importers, exit handlers, executors) has the same
shape in 2.1.0. A parameter type 2.0.0 lacks (dict, list, bool) was written as STRING by kfp
1.8 and stays one: the component code parses it, as it did under kfp 1.8.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError

__all__ = ["is_v20", "upgrade_v20"]

_TYPES = {"INT": "NUMBER_INTEGER", "DOUBLE": "NUMBER_DOUBLE", "STRING": "STRING"}
_CONDITION = re.compile(r"inputs\.parameters\[(['\"])(.+?)\1\]\.(?:string|int|double)_value")


def is_v20(spec: Mapping[str, Any]) -> bool:
    """True for a PipelineSpec of schemaVersion 2.0.x."""
    return str(spec.get("schemaVersion", "")).startswith("2.0.")


def upgrade_v20(
    spec: Mapping[str, Any],
    runtime_parameters: Mapping[str, Any] | None = None,
    *,
    path: str | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """The 2.1.0 equivalent of `spec`, with `runtime_parameters` (a runtimeConfig's
    `parameters`) as the root inputs' defaults; `prefix` leads the field paths of errors.

    Example: ``upgrade_v20(job["pipelineSpec"], job["runtimeConfig"].get("parameters"))``.
    """
    result = copy.deepcopy(dict(spec))
    sdk = result.get("sdkVersion")
    for where, node in _walk(result, prefix):
        _upgrade_node(node, where, path)
    defaults = (result.get("root") or {}).get("inputDefinitions", {}).get("parameters") or {}
    for name, value in (runtime_parameters or {}).items():
        if name not in defaults:
            raise SpecError(
                f"runtimeConfig sets {name!r}, which is not a pipeline parameter",
                field=f"runtimeConfig.parameters.{name}",
                path=path,
            )
        defaults[name]["defaultValue"] = _value(value, f"runtimeConfig.parameters.{name}", path)
        defaults[name]["isOptional"] = True
    result["schemaVersion"] = "2.1.0"
    result["sdkVersion"] = f"pinnace-ir-upgrade ({sdk or 'unknown'})"
    return result


def _walk(node: Any, where: str) -> Any:
    """Every mapping in the document, with its dotted field path."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}[{index}]")


def _upgrade_node(node: dict[str, Any], where: str, path: str | None) -> None:
    if where.endswith(("inputDefinitions.parameters", "outputDefinitions.parameters")):
        for name, definition in node.items():
            if isinstance(definition, dict) and "type" in definition:
                v1 = str(definition.pop("type"))
                if v1 not in _TYPES:
                    raise SpecError(
                        f"parameter {name!r} has the type {v1!r}; 2.0.0 knows INT, DOUBLE, STRING",
                        field=f"{where}.{name}.type",
                        path=path,
                    )
                definition["parameterType"] = _TYPES[v1]
    if "constantValue" in node:
        node["constant"] = _value(node.pop("constantValue"), f"{where}.constantValue", path)
    policy = node.get("triggerPolicy")
    if isinstance(policy, dict) and isinstance(policy.get("condition"), str):
        policy["condition"] = _CONDITION.sub(
            lambda m: f"inputs.parameter_values[{m.group(1)}{m.group(2)}{m.group(1)}]",
            policy["condition"],
        )


def _value(value: Any, where: str, path: str | None) -> Any:
    """A 2.0.0 typed Value (`{"intValue": "3"}`) as plain JSON."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, raw),) = value.items()
        if kind == "intValue":
            return int(raw)
        if kind == "doubleValue":
            return float(raw)
        if kind == "stringValue":
            return str(raw)
    raise SpecError(
        f"{value!r} is not a 2.0.0 value (intValue, doubleValue or stringValue)",
        field=where,
        path=path,
    )
