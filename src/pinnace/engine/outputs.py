"""Reading what an execution wrote (as its executor reported it): parameters and artifacts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..executors.base import ExecutionOutputs
from .inputs import ArtifactDict, TaskOutputs
from .plan import PlannedTask


class OutputError(Exception):
    """An execution finished but its outputs are missing or malformed (the task fails)."""


def collect_outputs(
    task: PlannedTask, executor_input: Mapping[str, Any], written: ExecutionOutputs
) -> TaskOutputs:
    """The task's outputs from what its executor collected (artifacts already committed).

    `executor_input` is the one the engine built: its output artifact URIs are where the
    executor committed them.
    """
    reported_values = written.executor_output.get("parameterValues", {})
    definitions = task.component.get("outputDefinitions", {})
    parameters: dict[str, Any] = {}
    for name in executor_input["outputs"].get("parameters") or {}:
        if name in reported_values:
            parameters[name] = reported_values[name]
            continue
        kind = definitions.get("parameters", {}).get(name, {}).get("parameterType", "STRING")
        parameters[name] = _parse_parameter(name, written.parameters.get(name), kind)
    artifacts: dict[str, list[ArtifactDict]] = {}
    for name, spec in (executor_input["outputs"].get("artifacts") or {}).items():
        declared = spec["artifacts"][0]
        result = written.artifacts.get(name, {})
        artifact = {
            "name": name,
            "uri": declared["uri"],
            "type": declared.get("type", {}),
            "metadata": {**declared.get("metadata", {}), **result.get("metadata", {})},
        }
        if not result.get("written"):
            # As Kubeflow's launcher: a component may leave an output unwritten; the URI is
            # still recorded (nothing is there) and downstream tasks decide what that means.
            artifact["written"] = False
        artifacts[name] = [artifact]
    return TaskOutputs(parameters, artifacts)


def _parse_parameter(name: str, text: str | None, kind: str) -> Any:
    if text is None:
        raise OutputError(f"output parameter {name!r} was not written")
    if kind == "STRING":
        return text
    try:
        value = json.loads(text)
    except ValueError:
        if kind == "BOOLEAN" and text.strip() in ("True", "False"):
            return text.strip() == "True"
        raise OutputError(
            f"output parameter {name!r} is not a valid {kind.lower()}: {text[:80]!r}"
        ) from None
    return value
