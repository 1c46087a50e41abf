"""kfp 2.x component YAML (a PipelineSpec holding one component) -> component spec."""

from __future__ import annotations

import ast
from typing import Any

from ..dsl.graph import (
    IR_TO_SPEC_TYPE,
    ComponentSpec,
    ContainerSpec,
    InputSpec,
    OutputSpec,
    rename_for_k8s,
)
from ..errors import SpecError
from ..runtime import types as io_types


def _artifact(body: dict) -> str:
    schema = body["artifactType"]
    return io_types.bundled_artifact_type(schema["schemaTitle"], schema.get("schemaVersion"))


def _param_type(body: dict, field: str) -> str:
    ir_type = body["parameterType"]
    if ir_type == "TASK_FINAL_STATUS":
        return "PipelineTaskFinalStatus"
    if ir_type not in IR_TO_SPEC_TYPE:
        raise SpecError(
            f"unknown parameter type {ir_type!r}",
            field=field,
            hint="use a type of the KFP pipeline spec",
        )
    return IR_TO_SPEC_TYPE[ir_type]


def _inputs(definitions: dict) -> dict[str, InputSpec]:
    inputs: dict[str, InputSpec] = {}
    for name, body in definitions.get("parameters", {}).items():
        inputs[name] = InputSpec(
            type=_param_type(body, f"inputDefinitions.parameters.{name}"),
            default=body.get("defaultValue"),
            optional=body.get("isOptional", "defaultValue" in body),
        )
    for name, body in definitions.get("artifacts", {}).items():
        inputs[name] = InputSpec(
            type=_artifact(body),
            optional=body.get("isOptional", False),
            is_artifact_list=body.get("isArtifactList", False),
        )
    return inputs


def _outputs(definitions: dict) -> dict[str, OutputSpec]:
    outputs: dict[str, OutputSpec] = {}
    for name, body in definitions.get("parameters", {}).items():
        outputs[name] = OutputSpec(type=_param_type(body, f"outputDefinitions.parameters.{name}"))
    for name, body in definitions.get("artifacts", {}).items():
        outputs[name] = OutputSpec(
            type=_artifact(body), is_artifact_list=body.get("isArtifactList", False)
        )
    return outputs


def _docstring_in(command: list[str]) -> str | None:
    for part in command:
        if isinstance(part, str) and "import kfp" in part:
            try:
                tree = ast.parse(part)
            except SyntaxError:
                return None
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                    doc = ast.get_docstring(node)
                    if doc:
                        return doc
    return None


def _header_description(text: str) -> str | None:
    lines = text.splitlines()
    heading, more = "# Description: ", "#             "
    if heading not in text or len(lines) < 3:
        return None
    description = lines[2]
    index = 3
    while index < len(lines) and lines[index].startswith(more):
        description += "\n" + lines[index][len(more) + 1 :]
        index += 1
    return description[len(heading) :]


def spec_from_ir(spec: dict[str, Any], text: str = "") -> ComponentSpec:
    """The component spec of a compiled kfp 2.x component (one executor)."""
    try:
        raw_name = spec["pipelineInfo"]["name"]
        body = spec.get("components", {}).get("comp-" + rename_for_k8s(raw_name), spec["root"])
        executor = (
            spec.get("deploymentSpec", {})
            .get("executors", {})
            .get("exec-" + rename_for_k8s(raw_name))
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise SpecError(
            f"not a component spec: missing {exc}",
            field="pipelineInfo.name",
            hint="load a YAML written by compiling a component",
        ) from None
    if executor is None or "container" not in executor:
        raise SpecError(
            f"component {raw_name!r} has no container executor",
            field="deploymentSpec.executors",
            hint="pipelines used as components are not supported yet",
        )
    container = executor["container"]
    env = container.get("env") or []
    env = {e["name"]: e.get("value", "") for e in env} if isinstance(env, list) else dict(env)
    command = container.get("command") or []
    return ComponentSpec(
        name=raw_name,
        inputs=_inputs(body.get("inputDefinitions", {})),
        outputs=_outputs(body.get("outputDefinitions", {})),
        container=ContainerSpec(
            image=container["image"],
            command=list(command),
            args=list(container.get("args") or []),
            env=env,
        ),
        description=_docstring_in(command) or _header_description(text),
    )
