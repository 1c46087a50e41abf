"""Binding a task to its inputs: resolve parameter and artifact values, build the executor input."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import SpecError

# Placeholders are filled where the execution runs; re-exported for the engine's callers.
from ..executors.placeholders import resolve_placeholders, resolve_resources  # noqa: F401
from .plan import PlannedTask, coerce_parameter

#: artifact as the engine passes it around: name, uri, type {schemaTitle, schemaVersion}, metadata
ArtifactDict = dict[str, Any]


@dataclass(frozen=True)
class TaskOutputs:
    """What a finished task produced: parameter values and artifacts by output name."""

    parameters: Mapping[str, Any]
    artifacts: Mapping[str, list[ArtifactDict]]

    def as_dict(self) -> dict[str, Any]:
        return {"parameters": dict(self.parameters), "artifacts": dict(self.artifacts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskOutputs:
        return cls(dict(data.get("parameters", {})), dict(data.get("artifacts", {})))


@dataclass(frozen=True)
class BoundInputs:
    """A task's resolved inputs: parameter values and artifacts (with store URIs)."""

    parameters: dict[str, Any]
    artifacts: dict[str, list[ArtifactDict]]

    def as_dict(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "artifacts": self.artifacts}


FinalStatus = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class RuntimeValues:
    """What Kubeflow's driver puts in place of the runtime placeholders of constant inputs.

    `dsl.PIPELINE_JOB_NAME_PLACEHOLDER` (`{{$.pipeline_job_name}}`) and its kin, passed to a
    component, reach it as the run's values. Kubeflow's driver matches a whole constant; like
    kfp's local runner, Pinnace also replaces them inside a longer string (an f-string).
    """

    job_name: str
    job_resource_name: str
    job_id: str
    task_name: str
    task_id: str
    pipeline_root: str
    create_time: str
    schedule_time: str
    workspace_path: str | None = None

    def substitute(self, text: str) -> str:
        if "{{$." not in text:
            return text
        values = {
            "{{$.pipeline_job_name}}": self.job_name,
            "{{$.pipeline_job_resource_name}}": self.job_resource_name,
            "{{$.pipeline_job_uuid}}": self.job_id,
            "{{$.pipeline_task_name}}": self.task_name,
            "{{$.pipeline_task_uuid}}": self.task_id,
            "{{$.pipeline_root}}": self.pipeline_root,
            "{{$.pipeline_job_create_time_utc}}": self.create_time,
            "{{$.pipeline_job_schedule_time_utc}}": self.schedule_time,
        }
        if self.workspace_path is not None and "{{$.workspace_path}}" in text:
            os.makedirs(self.workspace_path, exist_ok=True)
            values["{{$.workspace_path}}"] = self.workspace_path
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text


def runtime_values(
    *,
    run_id: str,
    display_name: str,
    pipeline_name: str,
    created_at: datetime,
    scheduled_at: datetime | None,
    task_name: str,
    task_path: str,
    pipeline_root: str,
    workspace_path: str | None = None,
) -> RuntimeValues:
    """The runtime values of one task instance (`task_path`) of a run.

    As in Kubeflow: the job name is the run's display name, the resource name a unique name
    derived from the pipeline's, the task name the task's name in its DAG, times in RFC 3339
    UTC, and the schedule time the create time for runs no recurring run started.
    """
    created = _rfc3339(created_at)
    return RuntimeValues(
        job_name=display_name,
        job_resource_name=f"{pipeline_name}-{run_id[:8]}",
        job_id=run_id,
        task_name=task_name,
        task_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{task_path}").hex,
        pipeline_root=pipeline_root,
        create_time=created,
        schedule_time=_rfc3339(scheduled_at) if scheduled_at else created,
        workspace_path=workspace_path,
    )


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


def bind_inputs(
    task: PlannedTask,
    pipeline_parameters: Mapping[str, Any],
    finished: Mapping[str, TaskOutputs],
    *,
    artifacts: Mapping[str, list[ArtifactDict]] | None = None,
    final_status: FinalStatus | None = None,
    lenient: bool = False,
    coerce: bool = True,
    where: str | None = None,
    runtime: RuntimeValues | None = None,
) -> BoundInputs:
    """Resolve every input of `task` inside its enclosing DAG.

    `pipeline_parameters` and `artifacts` are the enclosing DAG's own inputs (the pipeline
    parameters for root tasks), `finished` the outputs of its finished sibling tasks by name.
    `lenient` (tasks that run after an upstream failure) leaves out inputs whose producer
    did not finish, so the component's default applies, as in KFP. DAG inputs are passed on
    as they are (`coerce=False`); their tasks check the types. `runtime` fills the runtime
    placeholders (`{{$.pipeline_job_name}}`, ...) of constant inputs.
    """
    where = f"{where or 'root.dag.tasks.' + task.name}.inputs"
    scope = _Scope(pipeline_parameters, artifacts or {}, finished, final_status, lenient)
    bindings = task.spec.get("inputs", {})
    definitions = task.component.get("inputDefinitions", {})
    parameters: dict[str, Any] = {}
    for name, binding in (bindings.get("parameters") or {}).items():
        value = scope.parameter(binding, f"{where}.parameters.{name}", task.name)
        if value is not _MISSING:
            parameters[name] = value
    _fill_constant_placeholders(parameters, bindings.get("parameters") or {}, runtime)
    for name, definition in (definitions.get("parameters") or {}).items():
        if name not in parameters and "defaultValue" in definition:
            parameters[name] = definition["defaultValue"]
        if coerce and name in parameters and parameters[name] is not None:
            kind = definition.get("parameterType", "STRING")
            if kind == "STRING" and not isinstance(parameters[name], str):
                # As Kubeflow's driver: any value may feed a string input, as text (a loop
                # item that is a number or a list, a task's integer output).
                parameters[name] = as_text(parameters[name])
            parameters[name] = coerce_parameter(name, parameters[name], kind)
    bound: dict[str, list[ArtifactDict]] = {}
    for name, binding in (bindings.get("artifacts") or {}).items():
        value = scope.artifact(binding, f"{where}.artifacts.{name}")
        if value is not _MISSING:
            bound[name] = value
    return BoundInputs(parameters, bound)


_MISSING: Any = object()


@dataclass(frozen=True)
class _Scope:
    """Where a task's input bindings resolve: its enclosing DAG's inputs and its siblings."""

    parameters: Mapping[str, Any]
    artifacts: Mapping[str, list[ArtifactDict]]
    finished: Mapping[str, TaskOutputs]
    final_status: FinalStatus | None
    lenient: bool

    def producer(self, name: str, where: str) -> TaskOutputs | None:
        outputs = self.finished.get(name)
        if outputs is None and not self.lenient:
            raise SpecError(
                f"task {name!r} did not run, so its outputs do not exist "
                "(it was skipped by a condition?)",
                field=where,
                hint="read outputs of conditional tasks through dsl.OneOf",
            )
        return outputs

    def parameter(self, binding: Mapping[str, Any], where: str, task: str) -> Any:
        value = self._parameter(binding, where)
        selector = binding.get("parameterExpressionSelector")
        if selector and value is not _MISSING:
            from .cel import select

            value = select(selector, value, task=task)
        return value

    def _parameter(self, binding: Mapping[str, Any], where: str) -> Any:
        if "runtimeValue" in binding:
            return binding["runtimeValue"].get("constant")
        if "componentInputParameter" in binding:
            return self.parameters.get(binding["componentInputParameter"], _MISSING)
        if "taskOutputParameter" in binding:
            ref = binding["taskOutputParameter"]
            outputs = self.producer(ref["producerTask"], where)
            key = ref["outputParameterKey"]
            if outputs is None:
                return _MISSING
            if key not in outputs.parameters:
                if self.lenient:
                    return _MISSING
                raise SpecError(
                    f"task {ref['producerTask']!r} produced no output parameter {key!r}",
                    field=where,
                )
            return outputs.parameters[key]
        if "taskFinalStatus" in binding and self.final_status is not None:
            return self.final_status(binding["taskFinalStatus"].get("producerTask", ""))
        raise SpecError(f"unsupported input binding {sorted(binding)}", field=where)

    def artifact(self, binding: Mapping[str, Any], where: str) -> Any:
        if "componentInputArtifact" in binding:
            return self.artifacts.get(binding["componentInputArtifact"], _MISSING)
        if "taskOutputArtifact" in binding:
            ref = binding["taskOutputArtifact"]
            outputs = self.producer(ref["producerTask"], where)
            key = ref["outputArtifactKey"]
            if outputs is None or (key not in outputs.artifacts and self.lenient):
                return _MISSING
            if key not in outputs.artifacts:
                raise SpecError(
                    f"task {ref['producerTask']!r} produced no artifact {key!r}", field=where
                )
            return outputs.artifacts[key]
        raise SpecError(f"unsupported artifact binding {sorted(binding)}", field=where)


_INPUT_REFERENCE = re.compile(r"\{\{\$\.inputs\.parameters\['(?P<n>[^']+)'\]\}\}")


def _fill_constant_placeholders(
    parameters: dict[str, Any], bindings: Mapping[str, Any], runtime: RuntimeValues | None
) -> None:
    """Fill `{{$.inputs.parameters['x']}}` inside constants (kfp's f-strings of channels),
    and the runtime placeholders."""
    for name, binding in bindings.items():
        value = parameters.get(name)
        if "runtimeValue" not in binding or not isinstance(value, str):
            continue
        if runtime is not None:
            value = runtime.substitute(value)

        def replace(match: re.Match[str]) -> str:
            other = parameters.get(match["n"], _MISSING)
            if other is _MISSING:
                return match.group(0)
            return other if isinstance(other, str) else json.dumps(other)

        parameters[name] = _INPUT_REFERENCE.sub(replace, value)


def resolve_input_references(value: Any, parameters: Mapping[str, Any]) -> Any:
    """Fill `{{$.inputs.parameters['x']}}` in a JSON-like value (an importer's metadata).

    A string that is only a placeholder becomes the parameter's value, type kept (as Vertex
    and kfp's local runner fill it); inside a longer string it is written as text.
    """
    if isinstance(value, dict):
        return {
            str(resolve_input_references(k, parameters)): resolve_input_references(v, parameters)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolve_input_references(item, parameters) for item in value]
    if not isinstance(value, str):
        return value
    whole = _INPUT_REFERENCE.fullmatch(value)
    if whole and whole["n"] in parameters:
        return parameters[whole["n"]]

    def replace(match: re.Match[str]) -> str:
        if match["n"] not in parameters:
            return match.group(0)
        found = parameters[match["n"]]
        return found if isinstance(found, str) else json.dumps(found)

    return _INPUT_REFERENCE.sub(replace, value)


def build_executor_input(
    task: PlannedTask,
    inputs: BoundInputs,
    output_uri: Callable[[str], str],
) -> dict[str, Any]:
    """The KFP ExecutorInput for one execution, in artifact URIs (see executors/staging.py).

    Input artifacts keep their store URIs; output artifacts get `output_uri(name)`, where the
    executor commits them. Output files are named relative to the execution's folder, which
    only the executor knows.
    """
    input_artifacts = {
        name: {"artifacts": [dict(a) for a in artifacts]}
        for name, artifacts in inputs.artifacts.items()
    }
    outputs = task.component.get("outputDefinitions", {})
    out_parameters = {
        name: {"outputFile": f"outputs/parameters/{name}"}
        for name in outputs.get("parameters") or {}
    }
    out_artifacts = {
        name: {
            "artifacts": [
                {
                    "name": name,
                    "type": definition.get("artifactType", {}),
                    "uri": output_uri(name),
                    "metadata": {},
                }
            ]
        }
        for name, definition in (outputs.get("artifacts") or {}).items()
    }
    executor_input: dict[str, Any] = {
        "inputs": {},
        "outputs": {"outputFile": "executor_output.json"},
    }
    if inputs.parameters:
        executor_input["inputs"]["parameterValues"] = {
            name: as_protojson(value) for name, value in inputs.parameters.items()
        }
    if input_artifacts:
        executor_input["inputs"]["artifacts"] = input_artifacts
    if out_parameters:
        executor_input["outputs"]["parameters"] = out_parameters
    if out_artifacts:
        executor_input["outputs"]["artifacts"] = out_artifacts
    return executor_input


def as_text(value: Any) -> str:
    """A parameter value as Kubeflow's driver writes it for a STRING input (PbValueToText):
    numbers without a needless fraction, `true`/`false`, lists and dicts as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(as_protojson(float(value))) if isinstance(value, float) else str(value)
    if value is None:
        return ""
    return json.dumps(as_protojson(value), separators=(",", ":"))


def as_protojson(value: Any) -> Any:
    """A parameter value as Kubeflow's Go driver writes it into the executor input.

    Parameters are protobuf Values (every number a double) and protojson prints an integral
    double without a fraction, so a component receives `[1, 2]`, not `[1.0, 2.0]`.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, list):
        return [as_protojson(item) for item in value]
    if isinstance(value, dict):
        return {key: as_protojson(item) for key, item in value.items()}
    return value
