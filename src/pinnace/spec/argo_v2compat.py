"""One template of a kfp 1.8 `V2_COMPATIBLE` Argo workflow → one IR component and its executor.

kfp 1.8's v2-compatible mode (`Compiler(mode=PipelineExecutionMode.V2_COMPATIBLE)`) wraps each
step in Kubeflow's `kfp-launcher`: an init container copies the launcher into an `emptyDir`
volume, the container's command becomes `/kfp-launcher/launch <flags> -- name=value ... --`
and its args hold the component's own command and args, already written with IR placeholders
(`{{$.inputs.parameters['a']}}`). The component's interface is in the `KFP_V2_RUNTIME_INFO`
env value. Pinnace is the launcher here: the launcher, its volume and its env are dropped and
the component's program runs as an IR executor, its inputs wired from the `name=value` list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError
from .argo_templates import ConvertedTemplate, container_of, typed

__all__ = ["V2_COMPONENT", "convert_v2_compatible_template", "is_v2_compatible"]

V2_COMPONENT = "pipelines.kubeflow.org/v2_component"
#: the launcher's plumbing parameters, threaded through every template by kfp 1.8
PLUMBING = ("pipeline-name", "pipeline-root")
_LAUNCHER = "/kfp-launcher/launch"
_LAUNCHER_ENV = {"KFP_V2_IMAGE", "KFP_V2_RUNTIME_INFO"}
_ARGO_PARAM = re.compile(r"^\{\{\s*inputs\.parameters\.([^}\s]+)\s*\}\}$")
# PrimitiveType names kfp 1.8 writes into the runtime info → IR parameter types
_TYPES = {"INT": "NUMBER_INTEGER", "DOUBLE": "NUMBER_DOUBLE", "STRING": "STRING"}


def is_v2_compatible(template: Mapping[str, Any]) -> bool:
    """True for a template kfp 1.8 wrote in V2_COMPATIBLE mode (run by kfp-launcher)."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    container = template.get("container") or {}
    command = container.get("command") or []
    return str(annotations.get(V2_COMPONENT)).lower() == "true" and command[:1] == [_LAUNCHER]


def convert_v2_compatible_template(
    template: Mapping[str, Any], *, path: str | None = None
) -> ConvertedTemplate:
    """The IR component + executor of a v2-compatible template, with its wiring maps."""
    name = str(template["name"])
    container = template["container"]
    info = _runtime_info(container, name, path)
    values = _launcher_values(container["command"], name, path)
    out = ConvertedTemplate(component={"executorLabel": f"exec-{name}"}, executor={})
    params = {
        key: {"parameterType": _TYPES.get(str(spec.get("type")), "STRING")}
        for key, spec in (info.get("inputParameters") or {}).items()
    }
    for key, value in values.items():
        if key not in params:
            raise _error(f"the launcher argument {key!r} is not in its runtime info", name, path)
        argo = _ARGO_PARAM.match(value.strip())
        if argo:
            out.feeds.setdefault(argo.group(1), []).append(key)
        elif "{{" in value:
            raise _error(f"the launcher argument {key}={value!r} is not importable", name, path)
        else:
            out.constants[key] = typed(value, params[key]["parameterType"])
    for argo in [p["name"] for p in (template.get("inputs") or {}).get("parameters") or []]:
        out.feeds.setdefault(argo, [])  # the launcher's own (pipeline-name, -root): unused
    artifacts: dict[str, Any] = {}
    by_path = {}
    for key, spec in (info.get("inputArtifacts") or {}).items():
        artifacts[key] = {"artifactType": _artifact_type(spec)}
        by_path[spec.get("metadataPath")] = key
    for art in (template.get("inputs") or {}).get("artifacts") or []:
        if art.get("path") not in by_path:
            raise _error(f"input artifact {art['name']!r} is not in its runtime info", name, path)
        out.input_names[art["name"]] = by_path[art["path"]]
    inputs = {k: v for k, v in (("parameters", params), ("artifacts", artifacts)) if v}
    if inputs:
        out.component["inputDefinitions"] = inputs
    _outputs(template, info, out)
    program = dict(container)
    program["command"] = list(container.get("args") or [])
    program.pop("args", None)
    program["env"] = [e for e in container.get("env") or [] if _kept_env(e)]
    out.executor = {"container": container_of(program, {}, name, path, out.notes)}
    return out


def _outputs(template: Mapping[str, Any], info: Mapping[str, Any], out: ConvertedTemplate) -> None:
    """Map the Argo outputs (by file path) onto the runtime info's output names."""
    parameters = {s.get("path"): k for k, s in (info.get("outputParameters") or {}).items()}
    artifacts = {s.get("metadataPath"): k for k, s in (info.get("outputArtifacts") or {}).items()}
    outputs = template.get("outputs") or {}
    for entry in [*(outputs.get("parameters") or []), *(outputs.get("artifacts") or [])]:
        file_path = entry.get("path") or (entry.get("valueFrom") or {}).get("path")
        if file_path in parameters:
            out.output_parameters[entry["name"]] = parameters[file_path]
        elif file_path in artifacts:
            out.output_artifacts[entry["name"]] = artifacts[file_path]
        # anything else (mlpipeline-ui-metadata...) is the launcher's, not the component's
    definitions: dict[str, Any] = {}
    if parameters:
        definitions["parameters"] = {
            k: {"parameterType": _TYPES.get(str(s.get("type")), "STRING")}
            for k, s in info["outputParameters"].items()
        }
    if artifacts:
        definitions["artifacts"] = {
            k: {"artifactType": _artifact_type(s)} for k, s in info["outputArtifacts"].items()
        }
    if definitions:
        out.component["outputDefinitions"] = definitions


def _runtime_info(container: Mapping[str, Any], name: str, path: str | None) -> dict[str, Any]:
    for var in container.get("env") or []:
        if var.get("name") == "KFP_V2_RUNTIME_INFO":
            try:
                info = json.loads(str(var.get("value")))
            except ValueError as exc:
                raise _error(f"KFP_V2_RUNTIME_INFO is not JSON ({exc})", name, path) from None
            if isinstance(info, dict):
                return info
    raise _error("no KFP_V2_RUNTIME_INFO env value (the component's interface)", name, path)


def _launcher_values(command: list[Any], name: str, path: str | None) -> dict[str, str]:
    """The `name=value` list between the launcher's two `--` separators."""
    words = [str(w) for w in command]
    try:
        start = words.index("--")
        end = words.index("--", start + 1)
    except ValueError:
        missing = "the kfp-launcher command has no `-- name=value ... --` list"
        raise _error(missing, name, path) from None
    values = {}
    for word in words[start + 1 : end]:
        key, sep, value = word.partition("=")
        if not sep:
            raise _error(f"the launcher argument {word!r} is not name=value", name, path)
        values[key] = value
    return values


def _artifact_type(spec: Mapping[str, Any]) -> dict[str, str]:
    return {
        "schemaTitle": str(spec.get("schemaTitle") or "system.Artifact"),
        "schemaVersion": str(spec.get("schemaVersion") or "0.0.1"),
    }


def _kept_env(var: Mapping[str, Any]) -> bool:
    """The component's own env values; the launcher's (runtime info, pod fields) go."""
    return "value" in var and var.get("name") not in _LAUNCHER_ENV


def _error(what: str, template: str, path: str | None) -> SpecError:
    return SpecError(
        f"template {template!r} (kfp 1.8 V2_COMPATIBLE): {what}",
        field=f"spec.templates.{template}",
        path=path,
        hint="recompile the pipeline with kfp 1.8's v1 mode or with the kfp 2.x API",
    )
