"""One kfp 1.x Argo container template → one IR component and its executor."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError

__all__ = [
    "ARTIFACT_TYPE",
    "ConvertedTemplate",
    "container_of",
    "convert_template",
    "parameter_type",
    "placeholder",
    "typed",
]

ARTIFACT_TYPE = {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}

# v1 component types → IR parameter types; anything else (String, Text, custom) is a STRING.
_V1_TYPES = {
    "float": "NUMBER_DOUBLE",
    "integer": "NUMBER_INTEGER",
    "int": "NUMBER_INTEGER",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "jsonobject": "STRUCT",
    "dict": "STRUCT",
    "jsonarray": "LIST",
    "list": "LIST",
}
_ARGO_PARAM = re.compile(r"\{\{\s*inputs\.parameters\.([^}\s]+)\s*\}\}")
_ARGO_GLOBALS = {
    "{{workflow.uid}}": "{{$.pipeline_job_uuid}}",
    "{{workflow.name}}": "{{$.pipeline_job_name}}",
    "{{pod.name}}": "{{$.pipeline_task_uuid}}",
}
_LEFTOVER = re.compile(r"\{\{(?!\$)[^}]*\}\}")
_KFP_PATH = re.compile(r"^/tmp/(?:inputs|outputs)/([^/]+)/data$")
_UNSUPPORTED_KEYS = {
    "volumes": "volumes",
    "initContainers": "init containers",
    "sidecars": "sidecars",
    "resource": "Kubernetes resource templates (dsl.ResourceOp / VolumeOp)",
    "script": "script templates",
    "steps": "steps templates",
    "suspend": "suspend templates",
}


@dataclass
class ConvertedTemplate:
    """A template's IR component and executor, plus Argo-name → IR-name maps for wiring tasks."""

    component: dict[str, Any]
    executor: dict[str, Any]
    input_names: dict[str, str] = field(default_factory=dict)  # argo input (param/artifact)
    output_parameters: dict[str, str] = field(default_factory=dict)  # argo output → IR name
    output_artifacts: dict[str, str] = field(default_factory=dict)
    #: argo input parameter → the IR inputs it feeds, where not one-to-one (v2-compatible)
    feeds: dict[str, list[str]] = field(default_factory=dict)
    #: IR input → constant the template itself passes (v2-compatible launcher arguments)
    constants: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def placeholder(kind: str, name: str, suffix: str = "") -> str:
    """An IR placeholder, e.g. placeholder("inputs.artifacts", "model", ".path")."""
    return "{{$." + kind + "['" + name + "']" + suffix + "}}"


def parameter_type(v1_type: Any) -> str:
    """The IR parameterType for a v1 component type name (None/unknown → STRING)."""
    if isinstance(v1_type, str):
        return _V1_TYPES.get(v1_type.lower(), "STRING")
    return "STRING"


def typed(value: str, ptype: str) -> Any:
    """Argo passes strings; turn one into the JSON value of `ptype`, or keep it as a string."""
    try:
        if ptype == "NUMBER_DOUBLE":
            return float(value)
        if ptype == "NUMBER_INTEGER":
            return int(value)
        if ptype == "BOOLEAN" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if ptype in ("STRUCT", "LIST"):
            return json.loads(value)
    except (TypeError, ValueError):
        pass
    return value


def convert_template(template: Mapping[str, Any], *, path: str | None = None) -> ConvertedTemplate:
    """Convert one Argo container template written by kfp 1.8 into an IR component + executor."""
    name = template["name"]
    for key, what in _UNSUPPORTED_KEYS.items():
        if key in template:
            raise _unsupported(what, name, path)
    container = template.get("container")
    if not isinstance(container, Mapping):
        raise _unsupported("no container (only container templates can be tasks)", name, path)
    if container.get("volumeMounts"):
        raise _unsupported("volume mounts", name, path)
    v1 = _component_spec(template)
    v1_inputs = {i.get("name"): i for i in v1.get("inputs") or []}
    v1_outputs = {o.get("name"): o for o in v1.get("outputs") or []}
    out = ConvertedTemplate(component={"executorLabel": f"exec-{name}"}, executor={})
    replacements = _inputs(template, v1, v1_inputs, out)
    replacements.update(_outputs(template, v1_outputs, out))
    out.executor = {"container": container_of(container, replacements, name, path, out.notes)}
    return out


def _component_spec(template: Mapping[str, Any]) -> dict[str, Any]:
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    try:
        spec = json.loads(annotations.get("pipelines.kubeflow.org/component_spec") or "{}")
    except ValueError:
        return {}  # the annotation only improves names and types; the template stands alone
    return spec if isinstance(spec, dict) else {}


def _argument_names(template: Mapping[str, Any], v1: Mapping[str, Any]) -> dict[str, list[str]]:
    """argo input parameter → the v1 input names it feeds, from kfp's arguments annotation."""
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    try:
        args = json.loads(annotations.get("pipelines.kubeflow.org/arguments.parameters") or "{}")
    except ValueError:
        args = {}
    feeds: dict[str, list[str]] = {}
    for v1_name, value in (args or {}).items():
        match = _ARGO_PARAM.fullmatch(str(value).strip())
        if match:
            feeds.setdefault(match.group(1), []).append(v1_name)
    return feeds


def _inputs(
    template: Mapping[str, Any],
    v1: Mapping[str, Any],
    v1_inputs: Mapping[str, Any],
    out: ConvertedTemplate,
) -> dict[str, str]:
    replacements: dict[str, str] = {}
    inputs = template.get("inputs") or {}
    feeds = _argument_names(template, v1)
    params: dict[str, Any] = {}
    for param in inputs.get("parameters") or []:
        argo = param["name"]
        fed = feeds.get(argo, [])
        # One v1 input fed by this argo parameter: use its friendlier name and its type.
        ir = fed[0] if len(fed) == 1 and fed[0] not in params else argo
        ptype = parameter_type((v1_inputs.get(fed[0]) or {}).get("type")) if fed else "STRING"
        params[ir] = {"parameterType": ptype}
        out.input_names[argo] = ir
        replacements["{{inputs.parameters." + argo + "}}"] = placeholder("inputs.parameters", ir)
    artifacts: dict[str, Any] = {}
    for art in inputs.get("artifacts") or []:
        ir = _ir_name(art, v1_inputs, "", params)
        artifacts[ir] = {"artifactType": dict(ARTIFACT_TYPE)}
        out.input_names[art["name"]] = ir
        if art.get("path"):
            replacements[art["path"]] = placeholder("inputs.artifacts", ir, ".path")
    definitions = {k: v for k, v in (("parameters", params), ("artifacts", artifacts)) if v}
    if definitions:
        out.component["inputDefinitions"] = definitions
    return replacements


def _outputs(
    template: Mapping[str, Any], v1_outputs: Mapping[str, Any], out: ConvertedTemplate
) -> dict[str, str]:
    replacements: dict[str, str] = {}
    outputs = template.get("outputs") or {}
    prefix = f"{template['name']}-"
    params: dict[str, Any] = {}
    for param in outputs.get("parameters") or []:
        file_path = (param.get("valueFrom") or {}).get("path")
        if not file_path:
            raise _unsupported("an output parameter not read from a file", template["name"], None)
        ir = _ir_name(param, v1_outputs, prefix, {})
        ptype = parameter_type((v1_outputs.get(ir) or {}).get("type"))
        params[ir] = {"parameterType": ptype}
        out.output_parameters[param["name"]] = ir
        replacements[file_path] = placeholder("outputs.parameters", ir, ".output_file")
    artifacts: dict[str, Any] = {}
    for art in outputs.get("artifacts") or []:
        if art["name"] in out.output_parameters:
            continue  # kfp 1.8 lists a value output twice; the parameter form wins
        if art["name"] in ("mlpipeline-ui-metadata", "mlpipeline-metrics"):
            out.notes.append(
                f"template {template['name']!r}: output {art['name']!r} is kept "
                "as a plain artifact (no KFP UI visualization)"
            )
        ir = _ir_name(art, v1_outputs, prefix, params)
        artifacts[ir] = {"artifactType": dict(ARTIFACT_TYPE)}
        out.output_artifacts[art["name"]] = ir
        if art.get("path"):
            replacements[art["path"]] = placeholder("outputs.artifacts", ir, ".path")
    definitions = {k: v for k, v in (("parameters", params), ("artifacts", artifacts)) if v}
    if definitions:
        out.component["outputDefinitions"] = definitions
    return replacements


def _ir_name(
    entry: Mapping[str, Any], v1_names: Mapping[str, Any], prefix: str, taken: Mapping[str, Any]
) -> str:
    """kfp 1.8 puts a v1 input/output `x` at /tmp/{inputs,outputs}/x/data; prefer that name."""
    match = _KFP_PATH.match(entry.get("path") or (entry.get("valueFrom") or {}).get("path") or "")
    if match and match.group(1) in v1_names and match.group(1) not in taken:
        return match.group(1)
    name = entry["name"]
    stripped = name[len(prefix) :] if prefix and name.startswith(prefix) else name
    return stripped if stripped and stripped not in taken else name


def container_of(
    container: Mapping[str, Any],
    replacements: Mapping[str, str],
    template: str,
    path: str | None,
    notes: list[str],
) -> dict[str, Any]:
    """The IR container of an Argo one, its Argo placeholders rewritten by `replacements`."""

    def rewrite(value: Any) -> str:
        text = str(value)
        # Longest first, so that /tmp/outputs/a/data/x is not half-rewritten by a shorter key.
        for old in sorted(replacements, key=len, reverse=True):
            text = text.replace(old, replacements[old])
        for old, new in _ARGO_GLOBALS.items():
            text = text.replace(old, new)
        leftover = _LEFTOVER.search(text)
        if leftover:
            raise _unsupported(f"the Argo placeholder {leftover.group(0)}", template, path)
        return text

    result: dict[str, Any] = {"image": container.get("image") or ""}
    for key in ("command", "args"):
        if container.get(key):
            result[key] = [rewrite(v) for v in container[key]]
    env = []
    for var in container.get("env") or []:
        if "value" in var:
            env.append({"name": var["name"], "value": rewrite(var["value"])})
        else:
            notes.append(
                f"template {template!r}: env {var.get('name')!r} uses valueFrom "
                "(secrets/config maps) and was dropped"
            )
    if env:
        result["env"] = env
    resources = _resources(container.get("resources") or {}, template, notes)
    if resources:
        result["resources"] = resources
    return result


def _resources(resources: Mapping[str, Any], template: str, notes: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind, suffix in (("limits", "Limit"), ("requests", "Request")):
        for key, value in (resources.get(kind) or {}).items():
            if key in ("cpu", "memory"):
                result[f"resource{key.capitalize()}{suffix}"] = str(value)
            elif kind == "limits" and "gpu" in key:
                result["accelerator"] = {"resourceType": key, "resourceCount": str(value)}
            else:
                notes.append(f"template {template!r}: resource {kind}.{key} was dropped")
    return result


def _unsupported(what: str, template: str, path: str | None) -> SpecError:
    return SpecError(
        f"template {template!r} uses {what}, which cannot be imported from a kfp 1.x workflow",
        field=f"spec.templates.{template}",
        path=path,
        hint="compile the pipeline with kfp 1.8's kfp.v2.compiler, or rewrite it with the "
        "kfp 2.x API and compile it with pinnace or kfp>=2",
    )
