"""The run driver: schedules ready tasks, checks the cache, records every transition.

Every state change is written to the metadata store before the driver acts on it, so a
run whose driver dies can be settled or resumed from the store alone.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import PinnaceError
from ..executors.base import ExecutionOutcome, Executor
from ..stores.base import (
    ArtifactRecord,
    ArtifactStore,
    CacheEntry,
    ExecutionRecord,
    MetadataStore,
    RunRecord,
    TaskRecord,
)
from .cache import cache_key
from .events import EngineEvent, EventSink, ignore_events
from .inputs import BoundInputs, TaskOutputs, bind_inputs, build_executor_input
from .launch import make_launch
from .outputs import OutputError, collect_outputs
from .plan import Plan, PlannedTask, make_plan
from .retry import backoff_seconds, max_attempts
from .settle import current_owner
from .state import RunState, TaskState


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Attempt:
    task: PlannedTask
    execution: ExecutionRecord
    inputs: BoundInputs
    executor_input: dict[str, Any]
    key: str | None
    started: float


@dataclass
class _RunState:
    plan: Plan
    records: dict[str, TaskRecord]
    finished: dict[str, TaskOutputs] = field(default_factory=dict)
    running: dict[Future[ExecutionOutcome], _Attempt] = field(default_factory=dict)
    #: (not-before monotonic time, task) for retries waiting out their backoff
    delayed: list[tuple[float, PlannedTask]] = field(default_factory=list)
    failure: str | None = None
    #: executions each task had before this drive began: a resumed run gets a fresh retry budget
    prior_attempts: dict[str, int] = field(default_factory=dict)


class RunDriver:
    """Drives runs to a terminal state through an executor and the two stores."""

    def __init__(
        self, *, metadata: MetadataStore, artifacts: ArtifactStore, executor: Executor,
        work_dir: Path, logs_dir: Path, on_event: EventSink = ignore_events,
    ) -> None:
        self.metadata = metadata
        self.artifacts = artifacts
        self.executor = executor
        self.work_dir = work_dir
        self.logs_dir = logs_dir
        self.on_event = on_event

    # -- creating -------------------------------------------------------------------------

    def create_run(
        self, spec: Mapping[str, Any], arguments: Mapping[str, Any] | None = None, *,
        cache: bool = True, display_name: str | None = None,
        pipeline_id: str | None = None,
    ) -> RunRecord:
        """Check the spec and arguments, then store a PENDING run with its tasks."""
        plan = make_plan(spec, arguments)  # raises before anything is stored
        run = RunRecord(
            run_id=uuid.uuid4().hex, pipeline_name=plan.pipeline_name,
            display_name=display_name or plan.pipeline_name, spec=dict(spec),
            parameters=dict(plan.parameters), state=RunState.PENDING, created_at=_now(),
            owner=current_owner(), pipeline_id=pipeline_id, cache_enabled=cache,
        )
        self.metadata.create_run(run)
        for task in plan.tasks:
            self.metadata.upsert_task(TaskRecord(
                run_id=run.run_id, task_name=task.name, display_name=task.display_name,
                state=TaskState.PENDING, component=task.component_name,
            ))
        return run

    # -- driving --------------------------------------------------------------------------

    def drive(self, run_id: str) -> RunRecord:
        """Run (or resume) `run_id` until it is terminal; finished tasks are kept."""
        run = self.metadata.get_run(run_id)
        if run.state is RunState.SUCCEEDED:
            return run  # nothing left to do
        state = self._prepare(run)
        try:
            self._loop(run, state)
        except BaseException as exc:
            self._abort(run, state, exc)
            raise
        return self._finish(run, state)

    def _prepare(self, run: RunRecord) -> _RunState:
        plan = make_plan(run.spec, run.parameters)
        records = {r.task_name: r for r in self.metadata.list_tasks(run.run_id)}
        state = _RunState(plan=plan, records=records,
                          prior_attempts={n: r.attempts for n, r in records.items()})
        for task in plan.tasks:
            record = records.get(task.name)
            if record is None:
                record = TaskRecord(run_id=run.run_id, task_name=task.name,
                                    display_name=task.display_name, state=TaskState.PENDING,
                                    component=task.component_name)
                records[task.name] = record
            elif record.state.ok:
                state.finished[task.name] = TaskOutputs.from_dict(record.outputs)
                continue
            elif record.state is not TaskState.PENDING:
                record.state, record.error = TaskState.PENDING, None
            self.metadata.upsert_task(record)
        self.metadata.update_run(run.run_id, state=RunState.RUNNING, started_at=_now(),
                                 finished_at=None, error=None, owner=current_owner())
        self._emit(run.run_id, None, RunState.RUNNING.value)
        return state

    def _loop(self, run: RunRecord, state: _RunState) -> None:
        pending = [t for t in state.plan.tasks if t.name not in state.finished]
        while pending or state.running or state.delayed:
            # After a failure no new task starts, but retries already due still run (as an
            # Argo retryStrategy would); dropping them would leave their tasks RUNNING.
            self._start_ready(run, state, pending)
            if not state.running and not state.delayed:
                break
            timeout = self._next_delay(state)
            if state.running:
                done, _ = wait(list(state.running), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    self._complete(run, state, state.running.pop(future), future)
            elif timeout:
                time.sleep(timeout)
        for task in pending:
            self._skip(run, state, task, f"not started: {state.failure or 'run stopped'}")

    def _start_ready(self, run: RunRecord, state: _RunState, pending: list[PlannedTask]) -> None:
        now = time.monotonic()
        for not_before, task in list(state.delayed):
            if not_before <= now and len(state.running) < self.executor.capacity:
                state.delayed.remove((not_before, task))
                self._start(run, state, task, retry=True)
        for task in list(pending):
            if len(state.running) >= self.executor.capacity or state.failure:
                return
            upstream = [state.records[u] for u in task.upstream]
            if all(r.state.ok for r in upstream):
                pending.remove(task)
                self._start(run, state, task)

    def _next_delay(self, state: _RunState) -> float | None:
        # With every slot taken nothing can start before a running task ends: wait for it
        # (a due retry would otherwise make this a zero timeout, a busy loop).
        if not state.delayed or len(state.running) >= self.executor.capacity:
            return None
        return max(0.0, min(t for t, _ in state.delayed) - time.monotonic())

    def _start(self, run: RunRecord, state: _RunState, task: PlannedTask, *,
               retry: bool = False) -> None:
        record = state.records[task.name]
        try:
            inputs = bind_inputs(task, state.plan.parameters, state.finished)
        except PinnaceError as exc:
            self._fail(run, state, task, str(exc))
            return
        record.inputs = inputs.as_dict()
        key = cache_key(task, inputs, state.plan.pipeline_name) if task.cache_enabled else None
        record.cache_key = key
        # A retry re-executes: its task is RUNNING and must not turn CACHED midway.
        if key and run.cache_enabled and not retry and self._reuse(run, state, task, key):
            return
        self._submit(run, state, task, inputs, key)

    def _reuse(self, run: RunRecord, state: _RunState, task: PlannedTask, key: str) -> bool:
        entry = self.metadata.get_cache(key)
        if entry is None:
            return False
        uris = [a["uri"] for arts in entry.outputs.get("artifacts", {}).values() for a in arts]
        if not all(self.artifacts.exists(uri) for uri in uris):
            return False
        record = state.records[task.name]
        record.state = record.state.check_move(TaskState.CACHED)
        record.outputs = entry.outputs
        record.cached_from = f"{entry.run_id}/{entry.task_name}"
        record.started_at = record.finished_at = _now()
        self.metadata.upsert_task(record)
        outputs = TaskOutputs.from_dict(entry.outputs)
        self._record_artifacts(run.run_id, task.name, outputs)
        state.finished[task.name] = outputs
        self._emit(run.run_id, task.name, TaskState.CACHED.value,
                   f"reused the outputs of run {entry.run_id[:8]}")
        return True

    def _submit(self, run: RunRecord, state: _RunState, task: PlannedTask,
                inputs: BoundInputs, key: str | None) -> None:
        record = state.records[task.name]
        record.attempts += 1
        execution_id = uuid.uuid4().hex
        workdir = self.work_dir / run.run_id / task.name / str(record.attempts)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        log_path = self.logs_dir / run.run_id / f"{task.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        executor_input = build_executor_input(task, inputs, workdir, self._local_path)
        launch = make_launch(run_id=run.run_id, task=task, execution_id=execution_id,
                             executor_input=executor_input, workdir=workdir,
                             log_path=log_path)
        execution = ExecutionRecord(
            execution_id=execution_id, run_id=run.run_id, task_name=task.name,
            attempt=record.attempts, state=TaskState.RUNNING, started_at=_now(),
            log_path=str(log_path),
        )
        self.metadata.add_execution(execution)
        record.state = record.state.check_move(TaskState.RUNNING)
        record.started_at = record.started_at or execution.started_at
        record.log_path = str(log_path)
        self.metadata.upsert_task(record)
        future = self.executor.submit(launch)
        state.running[future] = _Attempt(task, execution, inputs, executor_input, key,
                                         time.monotonic())
        suffix = f" (attempt {record.attempts})" if record.attempts > 1 else ""
        self._emit(run.run_id, task.name, TaskState.RUNNING.value, f"started{suffix}")

    def _local_path(self, uri: str) -> Path:
        local = self.artifacts.local_path(uri)
        if local is not None:
            return local
        dest = self.work_dir / "inputs" / uuid.uuid5(uuid.NAMESPACE_URL, uri).hex
        return dest if dest.exists() else self.artifacts.fetch(uri, dest)

    def _complete(self, run: RunRecord, state: _RunState, attempt: _Attempt,
                  future: Future[ExecutionOutcome]) -> None:
        task, execution = attempt.task, attempt.execution
        seconds = time.monotonic() - attempt.started
        try:
            outcome = future.result()
        except Exception as exc:  # an executor bug must fail the task, not hang the run
            outcome = ExecutionOutcome(exit_code=-1, error=f"executor error: {exc}")
        error = outcome.error or (f"exited with code {outcome.exit_code}"
                                  if outcome.exit_code else None)
        outputs = None
        if error is None:
            try:
                outputs = collect_outputs(task, attempt.executor_input, run.run_id,
                                          self.artifacts)
            except (OutputError, PinnaceError) as exc:
                error = str(exc)
        self.metadata.update_execution(
            execution.execution_id, state=TaskState.FAILED if error else TaskState.SUCCEEDED,
            finished_at=_now(), exit_code=outcome.exit_code, error=error,
            environment=outcome.environment,
        )
        if error is None and outputs is not None:
            self._succeed(run, state, attempt, outputs, seconds)
            shutil.rmtree(execution_workdir(attempt), ignore_errors=True)
        elif (tried := state.records[task.name].attempts
              - state.prior_attempts.get(task.name, 0)) < max_attempts(task.retry_policy):
            delay = backoff_seconds(task.retry_policy, tried)
            state.delayed.append((time.monotonic() + delay, task))
            self._emit(run.run_id, task.name, "RETRYING",
                       f"{error}; retrying in {delay:.1f}s", seconds)
        else:
            self._fail(run, state, task, error or "failed", seconds)

    def _succeed(self, run: RunRecord, state: _RunState, attempt: _Attempt,
                 outputs: TaskOutputs, seconds: float) -> None:
        task = attempt.task
        record = state.records[task.name]
        record.state = record.state.check_move(TaskState.SUCCEEDED)
        record.outputs = outputs.as_dict()
        record.finished_at = _now()
        self.metadata.upsert_task(record)
        self._record_artifacts(run.run_id, task.name, outputs)
        if attempt.key:
            self.metadata.put_cache(CacheEntry(cache_key=attempt.key, run_id=run.run_id,
                                               task_name=task.name, outputs=record.outputs,
                                               created_at=record.finished_at))
        state.finished[task.name] = outputs
        self._emit(run.run_id, task.name, TaskState.SUCCEEDED.value, "", seconds)

    def _fail(self, run: RunRecord, state: _RunState, task: PlannedTask, error: str,
              seconds: float | None = None) -> None:
        record = state.records[task.name]
        record.state = record.state.check_move(TaskState.FAILED)
        record.error = error
        record.finished_at = _now()
        self.metadata.upsert_task(record)
        state.failure = state.failure or f"task {task.name!r} failed: {error}"
        self._emit(run.run_id, task.name, TaskState.FAILED.value, error, seconds)

    def _skip(self, run: RunRecord, state: _RunState, task: PlannedTask, reason: str) -> None:
        record = state.records[task.name]
        if record.state.terminal:
            return
        record.state = record.state.check_move(TaskState.SKIPPED)
        record.error = reason
        record.finished_at = _now()
        self.metadata.upsert_task(record)
        self._emit(run.run_id, task.name, TaskState.SKIPPED.value, reason)

    def _record_artifacts(self, run_id: str, task_name: str, outputs: TaskOutputs) -> None:
        for name, artifacts in outputs.artifacts.items():
            for artifact in artifacts:
                self.metadata.add_artifact(ArtifactRecord(
                    artifact_id=uuid.uuid4().hex, run_id=run_id, task_name=task_name,
                    output_name=name, uri=artifact["uri"],
                    schema_title=artifact.get("type", {}).get("schemaTitle", "system.Artifact"),
                    metadata=artifact.get("metadata", {}), created_at=_now(),
                ))

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, run: RunRecord, state: _RunState) -> RunRecord:
        ok = all(state.records[t.name].state.ok for t in state.plan.tasks)
        final = RunState.SUCCEEDED if ok else RunState.FAILED
        outputs = pipeline_outputs(state.plan, state.finished) if ok else {}
        updated = self.metadata.update_run(run.run_id, state=final, finished_at=_now(),
                                           error=None if ok else state.failure,
                                           outputs=outputs)
        self._emit(run.run_id, None, final.value, state.failure or "")
        return updated

    def _abort(self, run: RunRecord, state: _RunState, exc: BaseException) -> None:
        """Leave nothing RUNNING when the driver itself is interrupted or breaks."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        reason = "canceled by the user" if interrupted else f"internal error: {exc!r}"
        for attempt in state.running.values():
            self.executor.cancel(attempt.execution.execution_id)
            # The execution record too: a RUNNING execution of a finished run would be a lie.
            self.metadata.update_execution(attempt.execution.execution_id,
                                           state=TaskState.CANCELED, finished_at=_now(),
                                           error=reason)
        for task in state.plan.tasks:
            record = state.records[task.name]
            if not record.state.terminal:
                record.state = TaskState.CANCELED
                record.error = reason
                record.finished_at = _now()
                self.metadata.upsert_task(record)
        final = RunState.CANCELED if interrupted else RunState.FAILED
        self.metadata.update_run(run.run_id, state=final, finished_at=_now(), error=reason)
        self._emit(run.run_id, None, final.value, reason)

    def _emit(self, run_id: str, task: str | None, state: str, message: str = "",
              seconds: float | None = None) -> None:
        self.on_event(EngineEvent(run_id, task, state, message, seconds))


def execution_workdir(attempt: _Attempt) -> Path:
    return Path(attempt.executor_input["outputs"]["outputFile"]).parent


def pipeline_outputs(plan: Plan, finished: Mapping[str, TaskOutputs]) -> dict[str, Any]:
    """The pipeline's own outputs, selected from its tasks' outputs (root.dag.outputs)."""
    result: dict[str, Any] = {}
    for name, spec in (plan.outputs.get("parameters") or {}).items():
        ref = spec.get("valueFromParameter", {})
        task = finished.get(ref.get("producerSubtask", ""))
        if task is not None:
            result[name] = task.parameters.get(ref.get("outputParameterKey", ""))
    for name, spec in (plan.outputs.get("artifacts") or {}).items():
        for selector in spec.get("artifactSelectors", []):
            task = finished.get(selector.get("producerSubtask", ""))
            if task is not None:
                result[name] = task.artifacts.get(selector.get("outputArtifactKey", ""))
    return result
