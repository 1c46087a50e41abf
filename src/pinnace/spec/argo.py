"""Import a kfp 1.x Argo `Workflow` (as kfp 1.8's compiler writes it) as a PipelineSpec dict.

What is converted: the entrypoint DAG's tasks and `dependencies`, one IR component + executor
per container template (image, command, args, plain env values, cpu/memory/gpu resources),
Argo placeholders rewritten to IR placeholders, task arguments (pipeline parameters, other
tasks' output parameters and artifacts, constants), pipeline parameters with their defaults
and v1 types, caching (`max_cache_staleness: P0D` or `enable_caching: "false"` → off),
`retryStrategy.limit`, and display names (`task_display_name`).

What is refused with a SpecError naming the construct and template: exit handlers (`onExit`),
conditions (`when`), loops (`withItems`/`withParam`/`withSequence`), nested DAGs, `depends`,
volumes and resource templates (VolumeOp/ResourceOp), steps/script templates, sidecars.
Dropped with a note: env from secrets/config maps, other resource kinds, node selectors.
Templates of kfp 1.8's V2_COMPATIBLE mode (kfp-launcher wrapped) are read by argo_v2compat.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import SpecError
from .argo_templates import ConvertedTemplate, convert_template, parameter_type, typed
from .argo_v2compat import PLUMBING, convert_v2_compatible_template, is_v2_compatible

__all__ = ["convert_argo_workflow", "is_argo_workflow"]

_TASK_OUTPUT = re.compile(
    r"^\{\{\s*tasks\.([^.}]+)\.outputs\.(parameters|artifacts)\.([^}\s]+)\s*\}\}$"
)
_PIPELINE_PARAM = re.compile(r"^\{\{\s*(?:inputs|workflow)\.parameters\.([^}\s]+)\s*\}\}$")
_HINT = (
    "compile the pipeline with kfp 1.8's kfp.v2.compiler (Pinnace loads its conditions, loops "
    "and exit handlers), or rewrite it with the kfp 2.x API and compile it with pinnace or kfp>=2"
)
_TASK_KEYS = {
    "when": "a condition (dsl.Condition / Argo `when`)",
    "withItems": "a loop (dsl.ParallelFor / Argo `withItems`)",
    "withParam": "a loop (dsl.ParallelFor / Argo `withParam`)",
    "withSequence": "a loop (Argo `withSequence`)",
    "depends": "Argo `depends` expressions",
    "onExit": "a task exit handler",
}


def is_argo_workflow(doc: Any) -> bool:
    """True for an Argo Workflow document (any apiVersion of argoproj.io)."""
    return (
        isinstance(doc, Mapping)
        and str(doc.get("apiVersion", "")).startswith("argoproj.io/")
        and doc.get("kind") == "Workflow"
    )


def convert_argo_workflow(
    workflow: Mapping[str, Any], *, path: str | None = None, notes: list[str] | None = None
) -> dict[str, Any]:
    """Return the PipelineSpec dict (schemaVersion 2.1.0) equivalent to a kfp 1.x workflow.

    `notes`, when given, receives one line per thing that was dropped on the way.
    Example: ``convert_argo_workflow(yaml.safe_load(open("basic_pipeline.yaml")))``.
    """
    notes = notes if notes is not None else []
    spec = workflow.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("templates"), list):
        raise SpecError(
            "an Argo Workflow needs spec.templates", field="spec.templates", path=path, hint=_HINT
        )
    for key, what in (
        ("onExit", "an exit handler (dsl.ExitHandler)"),
        ("volumes", "volumes"),
        ("volumeClaimTemplates", "volume claims"),
    ):
        if spec.get(key):
            raise SpecError(
                f"the workflow uses {what}, which cannot be imported",
                field=f"spec.{key}",
                path=path,
                hint=_HINT,
            )
    templates = {str(t.get("name")): t for t in spec["templates"] if isinstance(t, Mapping)}
    entry = templates.get(str(spec.get("entrypoint")))
    if entry is None or "dag" not in entry:
        raise SpecError(
            f"the entrypoint {spec.get('entrypoint')!r} is not a DAG template",
            field="spec.entrypoint",
            path=path,
            hint=_HINT,
        )
    name, description, v1_inputs = _pipeline_info(workflow, entry)
    tasks = entry["dag"].get("tasks") or []
    converted = _convert_templates(tasks, templates, path, notes)
    root: dict[str, Any] = {"dag": {"tasks": {}}}
    root_params = _root_parameters(entry, spec, v1_inputs)
    if any(is_v2_compatible(t) for t in templates.values()):
        for plumbing in PLUMBING:  # kfp-launcher's own parameters; Pinnace is the launcher
            root_params.pop(plumbing, None)
    if root_params:
        root["inputDefinitions"] = {"parameters": root_params}
    for task in tasks:
        root["dag"]["tasks"][task["name"]] = _task(task, templates, converted, path)
    pipeline_info = {"name": name}
    if description:
        pipeline_info["description"] = description
    sdk = ((workflow.get("metadata") or {}).get("annotations") or {}).get(
        "pipelines.kubeflow.org/kfp_sdk_version", "unknown"
    )
    return {
        "components": {f"comp-{n}": c.component for n, c in sorted(converted.items())},
        "deploymentSpec": {
            "executors": {f"exec-{n}": c.executor for n, c in sorted(converted.items())}
        },
        "pipelineInfo": pipeline_info,
        "root": root,
        "schemaVersion": "2.1.0",
        "sdkVersion": f"pinnace-argo-import (kfp-{sdk})",
    }


def _pipeline_info(
    workflow: Mapping[str, Any], entry: Mapping[str, Any]
) -> tuple[str, str | None, dict[str, Any]]:
    metadata = workflow.get("metadata") or {}
    try:
        info = json.loads(
            (metadata.get("annotations") or {}).get("pipelines.kubeflow.org/pipeline_spec") or "{}"
        )
    except ValueError:
        info = {}
    raw = info.get("name") or str(metadata.get("generateName") or entry["name"]).rstrip("-")
    # Same sanitising as kfp 2.x applies to pipelineInfo.name.
    name = re.sub(r"-+", "-", re.sub(r"[^-0-9a-z]+", "-", raw.lower())).strip("-")
    inputs = {i.get("name"): i for i in info.get("inputs") or []}
    return name or "pipeline", info.get("description"), inputs


def _root_parameters(
    entry: Mapping[str, Any], spec: Mapping[str, Any], v1_inputs: Mapping[str, Any]
) -> dict[str, Any]:
    defaults = {p["name"]: p for p in (spec.get("arguments") or {}).get("parameters") or []}
    result: dict[str, Any] = {}
    for param in (entry.get("inputs") or {}).get("parameters") or []:
        name = param["name"]
        ptype = parameter_type((v1_inputs.get(name) or {}).get("type"))
        definition: dict[str, Any] = {"parameterType": ptype}
        default = (defaults.get(name) or {}).get("value", param.get("value"))
        if default is not None:
            definition["defaultValue"] = typed(str(default), ptype)
            definition["isOptional"] = True
        result[name] = definition
    return result


def _convert_templates(
    tasks: list[Any], templates: Mapping[str, Any], path: str | None, notes: list[str]
) -> dict[str, ConvertedTemplate]:
    converted: dict[str, ConvertedTemplate] = {}
    for task in tasks:
        task_name = task.get("name")
        for key, what in _TASK_KEYS.items():
            if key in task:
                raise SpecError(
                    f"task {task_name!r} uses {what}, which cannot be imported",
                    field=f"{_task_field(templates, task)}.{key}",
                    path=path,
                    hint=_HINT,
                )
        template = templates.get(task.get("template"))
        if template is None:
            raise SpecError(
                f"task {task_name!r} names an unknown template {task.get('template')!r}",
                field=f"{_task_field(templates, task)}.template",
                path=path,
                hint=_HINT,
            )
        if "dag" in template:
            raise SpecError(
                f"task {task_name!r} runs the nested DAG {template['name']!r} "
                "(a condition, loop, exit handler or graph component), which cannot "
                "be imported",
                field=f"spec.templates.{template['name']}",
                path=path,
                hint=_HINT,
            )
        if template["name"] not in converted:
            if is_v2_compatible(template):
                result = convert_v2_compatible_template(template, path=path)
            else:
                result = convert_template(template, path=path)
            notes.extend(result.notes)
            converted[template["name"]] = result
    return converted


def _task(
    task: Mapping[str, Any],
    templates: Mapping[str, Any],
    converted: Mapping[str, ConvertedTemplate],
    path: str | None,
) -> dict[str, Any]:
    template = templates[task["template"]]
    this = converted[template["name"]]
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    wiring = _TaskWiring(task, templates, converted, this, path)
    inputs = wiring.inputs()
    result: dict[str, Any] = {
        "cachingOptions": {"enableCache": True} if _caching(annotations, labels) else {},
        "componentRef": {"name": f"comp-{template['name']}"},
        "taskInfo": {
            "name": annotations.get("pipelines.kubeflow.org/task_display_name") or task["name"]
        },
    }
    dependencies = sorted(set(task.get("dependencies") or []) | wiring.producers)
    if dependencies:
        result["dependentTasks"] = dependencies
    if inputs:
        result["inputs"] = inputs
    limit = (template.get("retryStrategy") or {}).get("limit")
    if limit is not None:
        result["retryPolicy"] = {"maxRetryCount": int(limit)}
    return result


def _entry_of(templates: Mapping[str, Any], task: Mapping[str, Any]) -> str:
    """Name of the DAG template holding `task` (only the entrypoint DAG is imported)."""
    for name, template in templates.items():
        if any(t is task for t in (template.get("dag") or {}).get("tasks") or []):
            return name
    return "?"


def _task_field(templates: Mapping[str, Any], task: Mapping[str, Any]) -> str:
    return f"spec.templates.{_entry_of(templates, task)}.dag.tasks.{task.get('name')}"


def _caching(annotations: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    if str(labels.get("pipelines.kubeflow.org/enable_caching", "true")).lower() == "false":
        return False
    return annotations.get("pipelines.kubeflow.org/max_cache_staleness") != "P0D"


class _TaskWiring:
    """Turns one Argo task's `arguments` into IR task inputs, remembering the producers."""

    def __init__(
        self,
        task: Mapping[str, Any],
        templates: Mapping[str, Any],
        converted: Mapping[str, ConvertedTemplate],
        this: ConvertedTemplate,
        path: str | None,
    ) -> None:
        self.task, self.templates, self.converted, self.this = task, templates, converted, this
        self.path = path
        self.producers: set[str] = set()
        self.field = (
            f"spec.templates.{_entry_of(templates, task)}.dag.tasks.{task['name']}.arguments"
        )

    def inputs(self) -> dict[str, Any]:
        arguments = self.task.get("arguments") or {}
        params = {}
        for arg in arguments.get("parameters") or []:
            fed = self.this.feeds.get(arg["name"])
            for ir in [self.this.input_names.get(arg["name"], arg["name"])] if fed is None else fed:
                params[ir] = self._parameter(arg, ir)
        for ir, value in self.this.constants.items():
            params[ir] = {"runtimeValue": {"constant": value}}
        artifacts = {}
        for arg in arguments.get("artifacts") or []:
            ir = self.this.input_names.get(arg["name"], arg["name"])
            artifacts[ir] = self._artifact(arg)
        return {k: v for k, v in (("parameters", params), ("artifacts", artifacts)) if v}

    def _parameter(self, arg: Mapping[str, Any], ir: str) -> dict[str, Any]:
        value = str(arg.get("value", ""))
        pipeline_param = _PIPELINE_PARAM.match(value.strip())
        if pipeline_param:
            return {"componentInputParameter": pipeline_param.group(1)}
        output = _TASK_OUTPUT.match(value.strip())
        if output and output.group(2) == "parameters":
            producer, key = self._producer(output.group(1), output.group(3), "parameters")
            return {"taskOutputParameter": {"producerTask": producer, "outputParameterKey": key}}
        if "{{" in value:
            raise self._error(
                f"parameter {arg['name']!r} has the value {value!r}; only a "
                "pipeline parameter, a task output or a constant can be imported"
            )
        ptype = (
            ((self.this.component.get("inputDefinitions") or {}).get("parameters") or {})
            .get(ir, {})
            .get("parameterType", "STRING")
        )
        return {"runtimeValue": {"constant": typed(value, ptype)}}

    def _artifact(self, arg: Mapping[str, Any]) -> dict[str, Any]:
        output = _TASK_OUTPUT.match(str(arg.get("from", "")).strip())
        if not output or output.group(2) != "artifacts":
            raise self._error(
                f"artifact {arg['name']!r} does not come from another task's "
                "output (raw, S3 or HTTP artifacts cannot be imported)"
            )
        producer, key = self._producer(output.group(1), output.group(3), "artifacts")
        return {"taskOutputArtifact": {"producerTask": producer, "outputArtifactKey": key}}

    def _producer(self, producer: str, argo_output: str, kind: str) -> tuple[str, str]:
        tasks = {t["name"]: t for t in self._dag_tasks()}
        if producer not in tasks:
            raise self._error(f"refers to the unknown task {producer!r}")
        converted = self.converted[tasks[producer]["template"]]
        names = converted.output_parameters if kind == "parameters" else converted.output_artifacts
        if argo_output not in names:
            other = "as a value" if kind == "artifacts" else "as a file"
            raise self._error(
                f"output {argo_output!r} of task {producer!r} is not an output "
                f"{kind[:-1]} (is it also consumed {other}? mixing both cannot "
                "be imported)"
            )
        self.producers.add(producer)
        return producer, names[argo_output]

    def _dag_tasks(self) -> list[Mapping[str, Any]]:
        entry = self.templates[_entry_of(self.templates, self.task)]
        return entry["dag"].get("tasks") or []

    def _error(self, message: str) -> SpecError:
        return SpecError(message, field=self.field, path=self.path, hint=_HINT)
