"""The run driver: creates runs and drives them to a terminal state.

Every state change is written to the metadata store before the driver acts on it, so a
run whose driver dies can be settled or resumed from the store alone. Task instances are
addressed by path (see pinnace.engine.nodes). The driver composes four collaborators:

- Planner (engine.planner): makes instances known, expands DAG and loop instances;
- Scheduler (engine.scheduler): decides which pending instances start, wait or never do;
- TaskLauncher (engine.launcher): container and importer tasks, cache, retries;
- Settler (engine.settler): writes moves, failures, skips and group outcomes, emits events.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import PinnaceError, RunBusyError
from ..executors.base import ExecutionOutcome, Executor
from ..model.state import RunState, TaskState
from ..stores.base import ArtifactStore, MetadataStore, RunRecord, TaskRecord
from .events import EventSink, ignore_events
from .groups import dag_outputs
from .inputs import TaskOutputs
from .launcher import TaskLauncher
from .lease import CancelRequested, DrivingStopped, LeaseKeeper, LeaseLost
from .nodes import Progress
from .owners import current_owner
from .plan import Plan, make_plan
from .planner import Planner
from .scheduler import Scheduler
from .settle import interrupt_tasks
from .settler import Settler

_LOG = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RunDriver:
    """Drives runs to a terminal state through an executor and the two stores."""

    def __init__(
        self,
        *,
        metadata: MetadataStore,
        artifacts: ArtifactStore,
        executor: Executor,
        work_dir: Path,
        logs_dir: Path,
        on_event: EventSink = ignore_events,
        leases: LeaseKeeper | None = None,
    ) -> None:
        """`leases`: the driving process's leases; without, runs are driven unleased."""
        self.metadata = metadata
        self.leases = leases
        #: runs another process asked to cancel (seen by the lease heartbeat)
        self._cancel_requested: set[str] = set()
        self.artifacts = artifacts
        self.executor = executor
        self.work_dir = work_dir
        self.logs_dir = logs_dir
        self.on_event = on_event
        #: run id -> cache TTL in seconds (kept in memory: RunRecord has no field for it yet)
        self.cache_ttl: dict[str, float] = {}
        self.settler = Settler(metadata, on_event)
        self.planner = Planner(metadata, self.settler)
        self.launcher = TaskLauncher(
            metadata=metadata,
            artifacts=artifacts,
            executor=executor,
            work_dir=work_dir,
            logs_dir=logs_dir,
            cache_ttl=self.cache_ttl,
            settler=self.settler,
        )
        self.scheduler = Scheduler(executor, artifacts, self.planner, self.launcher, self.settler)

    # -- creating -------------------------------------------------------------------------

    def create_run(
        self,
        spec: Mapping[str, Any],
        arguments: Mapping[str, Any] | None = None,
        *,
        cache: bool = True,
        display_name: str | None = None,
        pipeline_id: str | None = None,
        cache_ttl_seconds: float | None = None,
    ) -> RunRecord:
        """Check the spec and arguments, then store a PENDING run with its root tasks.

        `cache_ttl_seconds` makes cache entries older than that count as misses.
        """
        plan = make_plan(spec, arguments)  # raises before anything is stored
        run = RunRecord(
            run_id=uuid.uuid4().hex,
            pipeline_name=plan.pipeline_name,
            display_name=display_name or plan.pipeline_name,
            spec=dict(spec),
            parameters=dict(plan.parameters),
            state=RunState.PENDING,
            created_at=_now(),
            owner=current_owner(),
            pipeline_id=pipeline_id,
            cache_enabled=cache,
        )
        with self.metadata.batch():  # one commit for the run and its root tasks
            self.metadata.create_run(run)
            self.metadata.add_tasks(
                [
                    TaskRecord(
                        run_id=run.run_id,
                        task_name=task.name,
                        display_name=task.display_name,
                        state=TaskState.PENDING,
                        component=task.component_name,
                    )
                    for task in plan.tasks
                ]
            )
        if cache_ttl_seconds is not None:
            self.cache_ttl[run.run_id] = float(cache_ttl_seconds)
        return run

    # -- driving --------------------------------------------------------------------------

    def drive(self, run_id: str, *, cache_ttl_seconds: float | None = None) -> RunRecord:
        """Run (or resume) `run_id` until it is terminal; finished tasks are kept."""
        if cache_ttl_seconds is not None:
            self.cache_ttl[run_id] = float(cache_ttl_seconds)
        run = self.metadata.get_run(run_id)
        if run.state is RunState.SUCCEEDED:
            return run  # nothing left to do
        self._take_over(run)
        try:
            if run.state is RunState.CANCELING:  # asked to cancel while nobody drove it
                return self._cancel_undriven(run)
            progress = self._prepare(run)
            try:
                self._loop(run, progress)
            except BaseException as exc:
                self._abort(run, progress, exc)
                raise
            finally:
                self.launcher.discard_prestarted(run_id)
                self.launcher.forget(run_id)
            return self._finish(run, progress)
        finally:
            self.cache_ttl.pop(run_id, None)  # one driver may drive many runs: keep none
            if self.leases is not None:
                self.leases.release(run_id)

    def _take_over(self, run: RunRecord) -> None:
        """Hold the run's lease, then make sure nothing of an earlier driver still runs.

        A run left unfinished by a driver that died (adopted, or resumed after it was
        settled) has its interrupted executions' survivors killed first.
        """
        kill = self.executor.kill_leftover
        state = run.state
        if self.leases is not None:
            lost = self._on_lease_lost(run.run_id)
            cancel = self._on_cancel_requested(run.run_id)
            taken = self.leases.acquire(run.run_id, on_lost=lost, on_cancel=cancel)
            if taken is None:
                holder = self.metadata.get_run(run.run_id, spec=False)
                raise RunBusyError(
                    f"run {run.run_id} is driven by {holder.lease_owner} ({holder.lease_kind})",
                    hint="wait for it to finish, or stop that process first",
                )
            state = taken.state  # as the lease was taken: nobody changes it any more
        if state is RunState.PENDING:
            return  # never driven: it has no executions (they start once it is RUNNING)
        if not state.terminal:
            previous = run.lease_owner or run.owner or "unknown"
            reason = f"the process driving this run ({previous}) stopped; it was resumed"
            interrupt_tasks(self.metadata, run.run_id, reason, kill, cancel_pending=False)
        self._kill_leftovers(run.run_id)

    def _cancel_undriven(self, run: RunRecord) -> RunRecord:
        reason = "canceled by the user"
        for record in self.metadata.list_tasks(run.run_id):
            if not record.state.terminal:
                record.state, record.error, record.finished_at = TaskState.CANCELED, reason, _now()
                self.metadata.upsert_task(record)
        updated = self.metadata.update_run(
            run.run_id, state=RunState.CANCELED, finished_at=_now(), error=reason
        )
        self.settler.emit(run.run_id, None, RunState.CANCELED, reason)
        return updated

    def _on_cancel_requested(self, run_id: str) -> Callable[[], None]:
        def cancel() -> None:  # heartbeat thread: the loop raises CancelRequested next
            self._cancel_requested.add(run_id)
            for execution in self.metadata.list_executions(run_id):
                if execution.state is TaskState.RUNNING:
                    self.executor.cancel(execution.execution_id)

        return cancel

    def _check_stop(self, run_id: str) -> None:
        """Stop driving when the lease was lost, or another process asked to cancel."""
        if self.leases is not None and self.leases.lost(run_id):
            raise LeaseLost(run_id)
        if run_id in self._cancel_requested:
            self._cancel_requested.discard(run_id)
            raise CancelRequested("canceled by the user (through another Pinnace process)")

    def _on_lease_lost(self, run_id: str) -> Callable[[], None]:
        def stop() -> None:  # heartbeat thread: free the driver from waiting on its tasks
            for execution in self.metadata.list_executions(run_id):
                if execution.state is TaskState.RUNNING:
                    self.executor.cancel(execution.execution_id)

        return stop

    def _kill_leftovers(self, run_id: str) -> None:
        """Before resuming: no process of an earlier execution may still run.

        Every recorded process identity is checked, whatever its execution's state says:
        `kill_leftover` matches pid *and* start time, so a finished attempt costs one
        /proc read, and no outcome has to be guessed from an error message.
        """
        for execution in self.metadata.list_executions(run_id):
            if execution.process:
                self.executor.kill_leftover(execution.process)

    def _prepare(self, run: RunRecord) -> Progress:
        plan = make_plan(run.spec, run.parameters)
        records = {r.task_name: r for r in self.metadata.list_tasks(run.run_id)}
        progress = Progress(
            plan=plan, records=records, prior_attempts={n: r.attempts for n, r in records.items()}
        )
        self.metadata.update_run(
            run.run_id,
            state=RunState.RUNNING,
            started_at=_now(),
            finished_at=None,
            error=None,
            owner=current_owner(),
        )
        self.settler.emit(run.run_id, None, RunState.RUNNING)
        with self.settler.round():
            for task in plan.tasks:
                self.planner.add_node(
                    run,
                    progress,
                    task,
                    prefix="",
                    parent=None,
                    parameters=plan.parameters,
                    artifacts={},
                )
        return progress

    def _pause(self, run_id: str, seconds: float) -> None:
        """Wait out a retry's backoff in short steps: a stop request (the store's
        `check_canceled`, a cancel from another process, a lost lease) takes effect within
        0.2 s, not when the backoff ends."""
        check = getattr(self.metadata, "check_canceled", None)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if check is not None:
                check()
            self._check_stop(run_id)
            time.sleep(min(0.2, left))

    def _loop(self, run: RunRecord, progress: Progress) -> None:
        """Rounds until nothing runs or waits: record what ended and what starts (one
        transaction, `Settler.round`), then start the processes of what starts, then wait.

        An execution is committed RUNNING before its process starts, and an outcome before
        any task that depends on it is started: a driver killed at any point leaves nothing
        running that the store does not name, and no step that has to run twice.
        """
        done: set[Future[ExecutionOutcome]] = set()
        while True:
            with self.settler.round():
                for future in done:
                    self.launcher.complete(run, progress, progress.running.pop(future), future)
                self._check_stop(run.run_id)
                # After a failure no new task starts (but exit tasks do), yet retries already
                # due still run (as an Argo retryStrategy would).
                self.scheduler.advance(run, progress)
            done = set()
            # Again: the lease may have been lost while the round committed, and a process
            # started now would run beside the new driver's.
            self._check_stop(run.run_id)
            if self.launcher.launch(run, progress):
                continue  # a task could not start: the next round sees its failure
            if not progress.running and not progress.delayed:
                break
            self.launcher.prestart(run, progress)
            timeout = self.scheduler.next_delay(progress)
            if progress.running:
                done, _ = wait(list(progress.running), timeout=timeout, return_when=FIRST_COMPLETED)
            elif timeout:
                self._pause(run.run_id, timeout)
        with self.settler.round():
            self.settler.settle_leftovers(run, progress)

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, run: RunRecord, progress: Progress) -> RunRecord:
        roots = [progress.records[t.name] for t in progress.plan.tasks]
        ok = progress.failure is None and all(
            r.state.ok or r.state is TaskState.SKIPPED for r in roots
        )
        final = RunState.SUCCEEDED if ok else RunState.FAILED
        outputs = pipeline_outputs(progress.plan, progress.finished) if ok else {}
        error = None if ok else (progress.failure or "a task did not finish")
        if self.metadata.get_run(run.run_id, spec=False).state is RunState.CANCELING:
            # Canceled from another process as the last task ended: the request wins.
            final, error = RunState.CANCELED, "canceled by the user"
        updated = self.metadata.update_run(
            run.run_id, state=final, finished_at=_now(), error=error, outputs=outputs
        )
        self.settler.emit(run.run_id, None, final, error or "")
        return updated

    def _abort(self, run: RunRecord, progress: Progress, exc: BaseException) -> None:
        """Leave nothing RUNNING when the driver itself is interrupted or breaks.

        A driver told to stop driving (its lease lost, its server stopping) kills its task
        processes but writes nothing: the run is resumed by whoever drives it next.
        """
        for attempt in progress.running.values():
            self.executor.cancel(attempt.execution.execution_id)
        if isinstance(exc, DrivingStopped):
            return
        interrupted = isinstance(exc, KeyboardInterrupt)
        # An interrupt may say who sent it ("canceled by SIGTERM to the pinnace process").
        reason = (str(exc) or "canceled by the user") if interrupted else f"internal error: {exc!r}"
        # Executions recorded RUNNING (those never submitted too), and the tasks not ended:
        # a RUNNING record of a finished run would be a lie.
        executions = [s.attempt.execution.execution_id for s in progress.starting]
        executions += [a.execution.execution_id for a in progress.running.values()]
        progress.starting.clear()
        tasks = [r for r in progress.records.values() if not r.state.terminal]
        for record in tasks:
            record.state, record.error, record.finished_at = TaskState.CANCELED, reason, _now()
        try:
            with self.metadata.batch():  # one commit for every record it leaves
                self._record_abort(executions, tasks, reason)
        except Exception:
            # One transaction commits all or nothing, and a round whose commit failed (a
            # locked database, a full disk) never wrote its executions: record what can be.
            _LOG.warning("recording the aborted run write by write", exc_info=True)
            self._record_abort(executions, tasks, reason, one_by_one=True)
        finally:  # whatever could be recorded above, the run does not stay RUNNING
            final = RunState.CANCELED if interrupted else RunState.FAILED
            self.metadata.update_run(run.run_id, state=final, finished_at=_now(), error=reason)
            self.settler.emit(run.run_id, None, final, reason)

    def _record_abort(
        self,
        executions: list[str],
        tasks: list[TaskRecord],
        reason: str,
        *,
        one_by_one: bool = False,
    ) -> None:
        """CANCELED on `executions` and `tasks`; `one_by_one`: a write that fails (a record
        that was never committed) is skipped, not the rest."""
        canceled = {"state": TaskState.CANCELED, "finished_at": _now(), "error": reason}
        writes: list[Callable[[], Any]] = [
            functools.partial(self.metadata.update_execution, e, **canceled) for e in executions
        ]
        writes += [functools.partial(self.metadata.upsert_task, r) for r in tasks]
        for write in writes:
            try:
                write()
            except PinnaceError:
                if not one_by_one:
                    raise
                _LOG.warning("cannot record an aborted run's leftover", exc_info=True)


def pipeline_outputs(plan: Plan, finished: Mapping[str, TaskOutputs]) -> dict[str, Any]:
    """The pipeline's own outputs, selected from its root tasks' outputs (root.dag.outputs)."""
    roots = {t.name: finished[t.name] for t in plan.tasks if t.name in finished}
    outputs = dag_outputs(plan.outputs, roots)
    return {**outputs.parameters, **outputs.artifacts}
