"""DAG groups: loop items, a DAG's outputs (incl. dsl.OneOf and dsl.Collected), final status."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ..model.state import TaskState
from ..stores.base import TaskRecord
from .inputs import BoundInputs, TaskOutputs
from .plan import PlannedTask


def loop_items(task: PlannedTask, inputs: BoundInputs, path: str) -> list[Any]:
    """The items a loop iterates over: a raw JSON list, a list input or an artifact list."""
    where = f"task {path!r}"
    if "artifactIterator" in task.spec:
        name = task.spec["artifactIterator"].get("items", {}).get("inputArtifact", "")
        return list(inputs.artifacts.get(name, []))
    items = task.spec.get("parameterIterator", {}).get("items", {})
    if "raw" in items:
        value: Any = items["raw"]
    elif "inputParameter" in items:
        if items["inputParameter"] not in inputs.parameters:
            raise SpecError(f"{where}: the loop's list {items['inputParameter']!r} has no value")
        value = inputs.parameters[items["inputParameter"]]
    else:
        raise SpecError(f"{where}: parameterIterator.items has neither raw nor inputParameter")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SpecError(
                f"{where}: the loop items {value[:80]!r} are not a JSON list",
                hint="a ParallelFor iterates over a list",
            ) from None
    if not isinstance(value, list):
        raise SpecError(
            f"{where}: a loop needs a list to iterate over, got {type(value).__name__} {value!r}"[
                :200
            ],
            hint="pass a list (or a JSON list) to dsl.ParallelFor",
        )
    return value


def iteration_inputs(task: PlannedTask, inputs: BoundInputs, item: Any) -> BoundInputs:
    """One iteration's inputs: the loop's inputs plus the item under its item input name."""
    if "artifactIterator" in task.spec:
        name = task.spec["artifactIterator"].get("itemInput", "")
        return BoundInputs(dict(inputs.parameters), {**inputs.artifacts, name: [item]})
    name = task.spec.get("parameterIterator", {}).get("itemInput", "")
    return BoundInputs({**inputs.parameters, name: item}, dict(inputs.artifacts))


def parallelism_limit(task: PlannedTask) -> int | None:
    limit = task.spec.get("iteratorPolicy", {}).get("parallelismLimit")
    return int(limit) if limit else None


def dag_outputs(spec: Mapping[str, Any], children: Mapping[str, TaskOutputs]) -> TaskOutputs:
    """A DAG's outputs (`dag.outputs` is `spec`) from its finished children (by task name).

    `valueFromOneof` (dsl.OneOf) and several artifact selectors take the first producer
    that ran; outputs whose producer was skipped are left out.
    """
    parameters: dict[str, Any] = {}
    for name, output in (spec.get("parameters") or {}).items():
        selectors = output.get("valueFromOneof", {}).get("parameterSelectors") or [
            output.get("valueFromParameter", {})
        ]
        for selector in selectors:
            produced = children.get(selector.get("producerSubtask", ""))
            key = selector.get("outputParameterKey", "")
            if produced is not None and key in produced.parameters:
                parameters[name] = produced.parameters[key]
                break
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for name, output in (spec.get("artifacts") or {}).items():
        for selector in output.get("artifactSelectors", []):
            produced = children.get(selector.get("producerSubtask", ""))
            key = selector.get("outputArtifactKey", "")
            if produced is not None and key in produced.artifacts:
                artifacts[name] = list(produced.artifacts[key])
                break
    return TaskOutputs(parameters, artifacts)


def collect_iterations(task: PlannedTask, iterations: Sequence[TaskOutputs]) -> TaskOutputs:
    """A loop's outputs (dsl.Collected): per output, the list across iterations in order."""
    declared = task.component.get("outputDefinitions", {})
    parameters = {
        name: [it.parameters[name] for it in iterations if name in it.parameters]
        for name in (declared.get("parameters") or {})
    }
    artifacts = {
        name: [a for it in iterations for a in it.artifacts.get(name, [])]
        for name in (declared.get("artifacts") or {})
    }
    return TaskOutputs(parameters, artifacts)


@dataclass(frozen=True)
class GroupOutcome:
    """How a DAG instance ends once all its children are terminal."""

    state: TaskState
    error: str | None = None


def group_outcome(
    children: Sequence[TaskRecord],
    *,
    stopped: Collection[str],
    is_group: Callable[[str], bool],
) -> GroupOutcome:
    """FAILED if a child failed, CANCELED if one was stopped (canceled, or never started
    because of a failure elsewhere: its path is in `stopped`), else SUCCEEDED."""
    failed = next((c for c in children if c.state is TaskState.FAILED), None)
    if failed is not None:
        error = failed.error or "failed"
        if not is_group(failed.task_name):
            error = f"task {failed.task_name!r} failed: {error}"
        return GroupOutcome(TaskState.FAILED, error)
    halted = next(
        (c for c in children if c.state is TaskState.CANCELED or c.task_name in stopped), None
    )
    if halted is not None:
        return GroupOutcome(TaskState.CANCELED, halted.error or "canceled")
    return GroupOutcome(TaskState.SUCCEEDED)


#: google.rpc.Code values for the final status' error
_CODES = {"FAILED": 2, "CANCELED": 1}


def final_status(record: TaskRecord, run_display_name: str) -> dict[str, Any]:
    """The `PipelineTaskFinalStatus` value an exit task receives about `record`.

    `state` is the producer's execution state as Kubeflow's backend names it (ML Metadata's
    `COMPLETE`, `CACHED`, `FAILED`, `CANCELED`). Kubeflow's backend leaves `error` empty; we
    fill it with the failing task and its error.
    """
    if record.state is TaskState.CACHED:
        state = "CACHED"
    elif record.state.ok:
        state = "COMPLETE"
    elif record.state is TaskState.FAILED:
        state = "FAILED"
    else:
        state = "CANCELED"
    error = (
        {}
        if state in ("COMPLETE", "CACHED")
        else {"code": _CODES[state], "message": record.error or state.lower()}
    )
    return {
        "state": state,
        "pipelineJobResourceName": run_display_name,
        "pipelineTaskName": record.task_name,
        "error": error,
    }
