"""Component interfaces and container specs as the IR (PipelineSpec) writes them."""

from __future__ import annotations

from typing import Any

from ..dsl.graph import (
    ComponentSpec,
    ContainerSpec,
    InputSpec,
    OutputSpec,
    artifact_schema,
    channels_in,
    input_value,
    ir_parameter_type,
    is_task_final_status,
)

_G = 10**9
_MEMORY_UNITS = {
    "E": 10**18,
    "Ei": 1 << 60,
    "P": 10**15,
    "Pi": 1 << 50,
    "T": 10**12,
    "Ti": 1 << 40,
    "G": 10**9,
    "Gi": 1 << 30,
    "M": 10**6,
    "Mi": 1 << 20,
    "K": 10**3,
    "Ki": 1 << 10,
}


def artifact_type(type_: str) -> dict[str, str]:
    title, version = artifact_schema(type_)
    return {"schemaTitle": title, "schemaVersion": version}


def _input_definition(spec: InputSpec) -> tuple[str, dict[str, Any]]:
    ir_type = ir_parameter_type(spec.type)
    if is_task_final_status(spec.type):
        entry: dict[str, Any] = {"parameterType": "TASK_FINAL_STATUS", "isOptional": True}
        kind = "parameters"
    elif ir_type is not None:
        entry = {"parameterType": ir_type}
        if spec.optional:
            entry["isOptional"] = True
            if spec.default is not None:
                entry["defaultValue"] = spec.default
        kind = "parameters"
    else:
        entry = {"artifactType": artifact_type(spec.type)}
        if spec.is_artifact_list:
            entry["isArtifactList"] = True
        if spec.optional:
            entry["isOptional"] = True
        kind = "artifacts"
    if spec.description:
        entry["description"] = spec.description
    return kind, entry


def _output_definition(spec: OutputSpec) -> tuple[str, dict[str, Any]]:
    ir_type = ir_parameter_type(spec.type)
    if ir_type is not None:
        entry: dict[str, Any] = {"parameterType": ir_type}
        kind = "parameters"
    else:
        entry = {"artifactType": artifact_type(spec.type)}
        if spec.is_artifact_list:
            entry["isArtifactList"] = True
        kind = "artifacts"
    if spec.description:
        entry["description"] = spec.description
    return kind, entry


def interface(spec: ComponentSpec) -> dict[str, Any]:
    """`inputDefinitions` and `outputDefinitions` of a component."""
    result: dict[str, Any] = {}
    inputs: dict[str, dict] = {}
    for name, input_spec in spec.inputs.items():
        kind, entry = _input_definition(input_spec)
        inputs.setdefault(kind, {})[name] = entry
    outputs: dict[str, dict] = {}
    for name, output_spec in spec.outputs.items():
        kind, entry = _output_definition(output_spec)
        outputs.setdefault(kind, {})[name] = entry
    if inputs:
        result["inputDefinitions"] = inputs
    if outputs:
        result["outputDefinitions"] = outputs
    return result


def cpu_to_float(cpu: str) -> float:
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def memory_to_float(memory: str) -> float:
    """Memory in GB, as kfp's deprecated numeric fields hold it."""
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if memory.endswith(suffix):
            value = float(memory[: -len(suffix)])
            return value if suffix == "G" else value * _MEMORY_UNITS[suffix] / _G
    return float(memory) / _G


def _as_placeholder(value: str) -> str:
    """A value holding a channel becomes the placeholder of the injected input."""
    for channel in channels_in(value):
        value = value.replace(channel.pattern, input_value(f"pipelinechannel--{channel.full_name}"))
    return value


def _resources(container: ContainerSpec) -> dict[str, Any]:
    res = container.resources
    out: dict[str, Any] = {}
    if res is None:
        return out
    numeric = (
        ("cpu_request", "cpuRequest", cpu_to_float),
        ("cpu_limit", "cpuLimit", cpu_to_float),
        ("memory_request", "memoryRequest", memory_to_float),
        ("memory_limit", "memoryLimit", memory_to_float),
    )
    for attr, key, convert in numeric:
        value = getattr(res, attr)
        if value is None:
            continue
        placeholder = _as_placeholder(value)
        out["resource" + key[0].upper() + key[1:]] = placeholder
        if placeholder == value:
            out[key] = convert(value)
    if res.accelerator_count is not None:
        accel: dict[str, Any] = {}
        type_placeholder = _as_placeholder(res.accelerator_type) if res.accelerator_type else None
        if type_placeholder is not None:
            accel["resourceType"] = type_placeholder
            if type_placeholder == res.accelerator_type:
                accel["type"] = res.accelerator_type
        count_placeholder = _as_placeholder(res.accelerator_count)
        accel["resourceCount"] = count_placeholder
        if count_placeholder == res.accelerator_count:
            accel["count"] = int(res.accelerator_count)
        out["accelerator"] = accel
    return out


def container_spec(container: ContainerSpec) -> dict[str, Any]:
    """One executor's `container` entry."""
    out: dict[str, Any] = {"image": _as_placeholder(container.image)}
    if container.command:
        out["command"] = list(container.command)
    if container.args:
        out["args"] = list(container.args)
    if container.env:
        out["env"] = [{"name": k, "value": v} for k, v in container.env.items()]
    resources = _resources(container)
    if resources:
        out["resources"] = resources
    return out


def importer_spec(importer: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """One executor's `importer` entry (`dsl.importer`)."""
    uri = inputs.get("uri")
    out: dict[str, Any] = {
        "artifactUri": ({"constant": uri} if isinstance(uri, str) else {"runtimeParameter": "uri"}),
        "typeSchema": artifact_type(importer.schema_title),
    }
    if importer.reimport:
        out["reimport"] = True
    if importer.metadata:
        out["metadata"] = importer.metadata
    if getattr(importer, "download_to_workspace", False):
        out["downloadToWorkspace"] = True
    return out
