"""The Python entry point for local runs: `pinnace.run(pipeline, arguments=...)`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine.events import EventSink, ignore_events
from .errors import PinnaceError
from .settings import Settings

if TYPE_CHECKING:
    from .engine.plan import PlannedTask
    from .executors.base import Executor

#: tasks announced before a run starts (the engine's launcher announces as many per step)
_AHEAD = 16


@dataclass(frozen=True)
class TaskResult:
    """One task of a finished run. `outputs` maps output names to values or artifact URIs."""

    name: str
    display_name: str
    state: str
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log_path: str | None = None
    cached: bool = False


@dataclass(frozen=True)
class RunResult:
    """The outcome of `pinnace.run`: the run's state, its tasks and the pipeline's outputs."""

    run_id: str
    state: str
    tasks: list[TaskResult]
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"

    def task(self, name: str) -> TaskResult:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(
            f"no task {name!r} in run {self.run_id}; tasks: {', '.join(t.name for t in self.tasks)}"
        )

    def to_json(self) -> dict[str, Any]:
        """The `pinnace run --json` document."""
        return {
            "run_id": self.run_id,
            "state": self.state,
            "tasks": [{"name": t.name, "state": t.state, "outputs": t.outputs} for t in self.tasks],
            "outputs": self.outputs,
        }


def run(
    pipeline: Any,
    arguments: Mapping[str, Any] | None = None,
    *,
    pipeline_name: str | None = None,
    cache: bool = True,
    cache_ttl: float | None = None,
    parallelism: int | None = None,
    use_current_python: bool | None = None,
    settings: Settings | None = None,
    on_event: EventSink = ignore_events,
) -> RunResult:
    """Run a pipeline locally and wait for it to finish.

    `pipeline` is a `@dsl.pipeline` function, a path to a pipeline file (.py, .ipynb,
    .yaml, .json) or a pipeline spec dict. `cache=False` runs every task; `cache_ttl`
    (seconds) reuses only cached outputs younger than that.

        >>> result = pinnace.run(my_pipeline, arguments={"n": 3})   # doctest: +SKIP
        >>> result.state, [t.state for t in result.tasks]           # doctest: +SKIP
    """
    from .backend import open_backend

    settings = settings or Settings.load()
    spec = resolve_spec(pipeline, pipeline_name, force_kfp_alias=settings.kfp_alias == "always")
    backend = open_backend(settings, lazy=True)
    try:
        executor = backend.executor(parallelism=parallelism, use_current_python=use_current_python)
        try:
            # The first tasks' fork servers start (in their own processes) before the database
            # opens here: SQLAlchemy's import alone takes 0.2 s of a `pinnace run`.
            prestart_first_tasks(executor, spec, arguments)
            driver = backend.driver(executor, on_event)
            record = driver.create_run(spec, arguments, cache=cache, cache_ttl_seconds=cache_ttl)
            driver.drive(record.run_id)
        finally:
            executor.close()
        return run_result(backend.metadata, record.run_id)
    finally:
        backend.close()


def prestart_first_tasks(
    executor: Executor, spec: Mapping[str, Any], arguments: Mapping[str, Any] | None
) -> None:
    """Tell the executor which tasks a run of `spec` starts with, as the engine's launcher
    does once the run is stored, so that their fork servers start sooner.

    Those are the root DAG's container tasks whose upstream tasks are announced too: the
    ones without upstream tasks first, then the rest in plan order, at most `_AHEAD` (or
    `capacity`). The executor starts what they need in that order, bounded by its cores.
    """
    from .engine.launch import upcoming_task
    from .engine.plan import TaskKind, make_plan
    from .executors.base import Prestarter

    if not isinstance(executor, Prestarter):
        return
    try:
        plan = make_plan(spec, arguments)
    except PinnaceError:
        return  # creating the run reports it
    announced: set[str] = set()
    first: list[PlannedTask] = []
    then: list[PlannedTask] = []
    for task in plan.tasks:  # a topological order
        if task.kind is TaskKind.CONTAINER and announced.issuperset(task.upstream):
            announced.add(task.name)
            (then if task.upstream else first).append(task)
    soon = (first + then)[: max(_AHEAD, executor.capacity)]
    executor.prestart([upcoming_task(run_id="", task=t, path=t.name) for t in soon])


def resolve_spec(
    pipeline: Any, pipeline_name: str | None = None, *, force_kfp_alias: bool = False
) -> dict[str, Any]:
    """The pipeline spec of a pipeline function, a pipeline file, or a spec dict.

    A platform spec (kfp-kubernetes' settings) travels in the spec dict under
    `engine.platform.PLATFORM_SPEC_KEY`, where the engine reads it for local runs.
    """
    if isinstance(pipeline, Mapping):
        return dict(pipeline)
    if isinstance(pipeline, (str, Path)):
        from .sources import load_pipeline_documents

        spec, platform = load_pipeline_documents(
            pipeline, pipeline_name=pipeline_name, force_kfp_alias=force_kfp_alias
        )
    else:
        from .compiler import compile_documents

        spec, platform = compile_documents(pipeline)
    if platform:
        from .engine.platform import PLATFORM_SPEC_KEY

        spec[PLATFORM_SPEC_KEY] = platform
    return spec


def run_result(metadata: Any, run_id: str) -> RunResult:
    """Read a run and its tasks back from the metadata store."""
    record = metadata.get_run(run_id, spec=False)
    tasks = [
        TaskResult(
            name=t.task_name,
            display_name=t.display_name,
            state=t.state.value,
            outputs=flatten_outputs(t.outputs),
            error=t.error,
            log_path=t.log_path,
            cached=t.cached_from is not None,
        )
        for t in metadata.list_tasks(run_id)
    ]
    outputs = {name: _uris_or_value(value) for name, value in record.outputs.items()}
    return RunResult(
        run_id=record.run_id,
        state=record.state.value,
        tasks=tasks,
        outputs=outputs,
        error=record.error,
    )


def _uris_or_value(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(a, dict) and "uri" in a for a in value):
        uris = [a["uri"] for a in value]
        return uris[0] if len(uris) == 1 else uris
    return value


def flatten_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters by value, artifacts by URI (a list when there are several)."""
    flat: dict[str, Any] = dict(outputs.get("parameters", {}))
    for name, artifacts in (outputs.get("artifacts") or {}).items():
        flat[name] = _uris_or_value(artifacts)
    return flat
