"""Planning: a pipeline spec plus run parameters becomes a list of planned tasks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import ParameterError, SpecError

#: how errors name the IR parameter types
_TYPE_WORDS = {
    "STRING": "a string",
    "NUMBER_INTEGER": "an integer",
    "NUMBER_DOUBLE": "a number",
    "BOOLEAN": "a boolean (true/false)",
    "LIST": "a JSON list",
    "STRUCT": "a JSON object",
}

#: IR parameter types and the Python types a value of each may have.
_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (float, int),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
    # The exit task's `PipelineTaskFinalStatus`: a struct the engine fills in.
    "TASK_FINAL_STATUS": (dict,),
}


class TaskKind(str, Enum):
    """What a planned task is: a process, an import of an existing artifact, or a DAG."""

    CONTAINER = "container"
    IMPORTER = "importer"
    #: a group whose `children` are the tasks of the component's DAG
    DAG = "dag"


@dataclass(frozen=True)
class PlannedTask:
    """One task of a DAG (the root DAG or a DAG component): its spec, component and kind.

    A DAG task's `children` are the tasks of the component's DAG, in a topological order.
    """

    name: str
    display_name: str
    spec: Mapping[str, Any]
    component_name: str
    component: Mapping[str, Any]
    executor: Mapping[str, Any]
    upstream: tuple[str, ...]
    kind: TaskKind = TaskKind.CONTAINER
    children: tuple[PlannedTask, ...] = ()

    @property
    def cache_enabled(self) -> bool:
        return bool(self.spec.get("cachingOptions", {}).get("enableCache", False))

    @property
    def retry_policy(self) -> Mapping[str, Any]:
        return self.spec.get("retryPolicy", {})

    @property
    def condition(self) -> str | None:
        """The CEL trigger condition (`dsl.If`), or None."""
        return self.spec.get("triggerPolicy", {}).get("condition") or None

    @property
    def runs_after_failure(self) -> bool:
        """Exit tasks and `ignore_upstream_failure()`: run once the upstream are terminal."""
        strategy = self.spec.get("triggerPolicy", {}).get("strategy")
        return strategy == "ALL_UPSTREAM_TASKS_COMPLETED"

    @property
    def iterator(self) -> Mapping[str, Any] | None:
        """The `parameterIterator` or `artifactIterator` of a loop (`dsl.ParallelFor`)."""
        return self.spec.get("parameterIterator") or self.spec.get("artifactIterator") or None

    @property
    def dag_outputs(self) -> Mapping[str, Any]:
        return self.component.get("dag", {}).get("outputs", {})


@dataclass(frozen=True)
class Plan:
    """A run's root tasks in a topological order, and its resolved pipeline parameters."""

    pipeline_name: str
    parameters: Mapping[str, Any]
    tasks: tuple[PlannedTask, ...]
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def task(self, name: str) -> PlannedTask:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)


def make_plan(spec: Mapping[str, Any], arguments: Mapping[str, Any] | None = None) -> Plan:
    """Check `arguments` against the spec's pipeline parameters and order its tasks.

    DAG components (conditions, loops, exit handlers, nested pipelines) are planned
    recursively. Raises ParameterError for a missing, unknown or ill-typed parameter and
    SpecError for a broken spec (the field path says which).
    """
    root = spec.get("root") or {}
    parameters = bind_parameters(root.get("inputDefinitions", {}), arguments or {})
    return Plan(
        pipeline_name=spec.get("pipelineInfo", {}).get("name", "pipeline"),
        parameters=parameters,
        tasks=plan_dag(spec, root.get("dag", {}), "root.dag", ()),
        outputs=root.get("dag", {}).get("outputs", {}),
    )


def plan_dag(
    spec: Mapping[str, Any], dag: Mapping[str, Any], where: str, enclosing: tuple[str, ...]
) -> tuple[PlannedTask, ...]:
    """The tasks of one DAG in a topological order; `enclosing` guards against recursion."""
    # By name: a spec's map order is not meaningful (kfp writes it sorted, a dict built in
    # memory may not be), and ready tasks must start in the same order on every run.
    tasks = [
        _plan_task(spec, name, task, f"{where}.tasks.{name}", enclosing)
        for name, task in sorted((dag.get("tasks") or {}).items())
    ]
    return tuple(_topological(tasks, f"{where}.tasks"))


def bind_parameters(definitions: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Apply defaults and type checks to pipeline parameters (strings from a CLI are coerced)."""
    declared = definitions.get("parameters", {}) or {}
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        raise ParameterError(
            "not a parameter of this pipeline",
            parameter=unknown[0],
            hint=f"the pipeline's parameters are: {', '.join(sorted(declared)) or '(none)'}",
        )
    required = [
        name
        for name, definition in (definitions.get("artifacts") or {}).items()
        if not definition.get("isOptional")
    ]
    if required:
        # Optional ones (`Optional[Input[Dataset]] = None`) stay absent, as on Kubeflow, whose
        # runs cannot be handed artifacts either.
        raise SpecError(
            f"the pipeline needs the input artifact {required[0]!r}; a run cannot be given "
            "artifacts",
            field="root.inputDefinitions.artifacts",
            hint="make it optional (Optional[Input[...]] = None) or import it with dsl.importer",
        )
    bound: dict[str, Any] = {}
    for name, definition in declared.items():
        kind = definition.get("parameterType", "STRING")
        if name in arguments:
            bound[name] = coerce_parameter(name, arguments[name], kind)
        elif "defaultValue" in definition:
            bound[name] = coerce_parameter(name, definition["defaultValue"], kind)
        elif definition.get("isOptional"):
            continue
        else:
            raise ParameterError(
                f"required ({_TYPE_WORDS.get(kind, kind)}) but not given",
                parameter=name,
                hint=f"pass it with -p {name}=VALUE (or arguments={{'{name}': ...}})",
            )
    return bound


def coerce_parameter(name: str, value: Any, kind: str) -> Any:
    """Return `value` as the IR type `kind`; strings (from a command line) are parsed."""
    expected = _PARAMETER_TYPES.get(kind)
    if expected is None:
        raise SpecError(f"unknown parameterType {kind!r}", field=f"parameters.{name}")
    if isinstance(value, str) and kind != "STRING":
        value = _parse_text(name, value, kind)
    if kind == "NUMBER_DOUBLE" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if (isinstance(value, bool) and kind != "BOOLEAN") or not isinstance(value, expected):
        raise ParameterError(
            f"expected {_TYPE_WORDS.get(kind, kind)}, got {type(value).__name__} {value!r}",
            parameter=name,
        )
    return value


def _parse_text(name: str, text: str, kind: str) -> Any:
    try:
        if kind == "BOOLEAN":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(text)
            return lowered == "true"
        if kind == "NUMBER_INTEGER":
            return int(text)
        if kind == "NUMBER_DOUBLE":
            return float(text)
        return json.loads(text)
    except ValueError:
        raise ParameterError(
            f"expected {_TYPE_WORDS.get(kind, kind)}, got {text!r}",
            parameter=name,
            hint="lists and dicts are given as JSON, booleans as true/false",
        ) from None


def _plan_task(
    spec: Mapping[str, Any],
    name: str,
    task: Mapping[str, Any],
    where: str,
    enclosing: tuple[str, ...],
) -> PlannedTask:
    component_name = task.get("componentRef", {}).get("name", "")
    component = (spec.get("components") or {}).get(component_name)
    if component is None:
        raise SpecError(
            f"component {component_name!r} is not defined", field=f"{where}.componentRef.name"
        )
    common = {
        "name": name,
        "display_name": task.get("taskInfo", {}).get("name", name),
        "spec": task,
        "component_name": component_name,
        "component": component,
        "upstream": tuple(sorted(_upstream(task))),
    }
    if "dag" in component:
        if component_name in enclosing:
            raise SpecError(
                f"component {component_name!r} contains itself",
                field=f"components.{component_name}.dag",
            )
        children = plan_dag(
            spec, component["dag"], f"components.{component_name}.dag", (*enclosing, component_name)
        )
        return PlannedTask(executor={}, kind=TaskKind.DAG, children=children, **common)
    label = component.get("executorLabel", "")
    executor = (spec.get("deploymentSpec", {}).get("executors") or {}).get(label)
    if executor is not None and "importer" in executor:
        return PlannedTask(executor=executor, kind=TaskKind.IMPORTER, **common)
    if executor is None or "container" not in executor:
        raise SpecError(
            f"executor {label!r} has no container", field=f"deploymentSpec.executors.{label}"
        )
    return PlannedTask(executor=executor, **common)


def _upstream(task: Mapping[str, Any]) -> set[str]:
    names = set(task.get("dependentTasks", []))
    inputs = task.get("inputs", {})
    for binding in inputs.get("parameters", {}).values():
        producer = binding.get("taskOutputParameter", {}).get("producerTask")
        if producer:
            names.add(producer)
    for binding in inputs.get("artifacts", {}).values():
        producer = binding.get("taskOutputArtifact", {}).get("producerTask")
        if producer:
            names.add(producer)
    return names


def _topological(tasks: list[PlannedTask], where: str) -> list[PlannedTask]:
    by_name = {t.name: t for t in tasks}
    for task in tasks:
        for up in task.upstream:
            if up not in by_name:
                raise SpecError(f"depends on unknown task {up!r}", field=f"{where}.{task.name}")
    ordered: list[PlannedTask] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(task: PlannedTask, path: list[str]) -> None:
        if state.get(task.name) == 2:
            return
        if state.get(task.name) == 1:
            cycle = " -> ".join([*path[path.index(task.name) :], task.name])
            raise SpecError(f"the tasks form a cycle: {cycle}", field=where)
        state[task.name] = 1
        for up in task.upstream:
            visit(by_name[up], [*path, task.name])
        state[task.name] = 2
        ordered.append(task)

    for task in tasks:
        visit(task, [])
    return ordered
