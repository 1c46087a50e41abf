"""Drives the server's runs in background threads with the same engine the CLI uses.

Each run is leased to this server (kind "server", see pinnace.engine.lease) while a thread
drives it. Terminating a run works through the driver's own abort path: the run's store
wrapper raises `RunCanceled` (a KeyboardInterrupt, which the driver records as CANCELED) at
the driver's next write, after the run's running executions were cancelled in the executor.
Stopping the server (SIGTERM, SIGINT) is not a cancel: in-flight runs get a grace period to
finish, then their drivers are suspended (`RunSuspended`: task trees killed, nothing
recorded) and their leases given up, so the next server to start adopts and resumes them.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..engine.lease import CLI, SERVER, DrivingStopped, RunSuspended, give_up, try_acquire
from ..engine.settle import orphaned
from ..errors import NotFoundError, RunBusyError
from ..model.state import RunState, TaskState

if TYPE_CHECKING:
    from ..backend import Backend
    from ..engine.events import EventSink
    from ..executors.base import Executor
    from ..stores.base import MetadataStore

_LOG = logging.getLogger("pinnace.server.runs")
_WRITES = frozenset(
    {"upsert_task", "update_run", "add_execution", "update_execution", "add_artifact", "put_cache"}
)
_CANCEL_REASON = "canceled by the user"
_ACTIVE = (RunState.PENDING, RunState.RUNNING, RunState.CANCELING)


class RunCanceled(KeyboardInterrupt):
    """Raised into a driver to stop its run; the driver marks the run CANCELED."""


class _CancelableStore:
    """The metadata store as one run's driver sees it; see the module docstring."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self.cancel_requested = False
        self.suspend_requested = False
        self._raised = False

    def check_canceled(self) -> None:
        """Raise RunCanceled (or RunSuspended) if the driver must stop; it calls this while
        idle, e.g. during a retry's backoff."""
        if self.suspend_requested:
            raise RunSuspended()
        if self.cancel_requested and not self._raised:
            self._raised = True
            raise RunCanceled()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name in _WRITES:
            if self.suspend_requested:
                raise RunSuspended()  # every time: a suspended driver writes nothing more
            if self.cancel_requested and not self._raised:
                self._raised = True  # once: the abort path must be able to write
                raise RunCanceled()
        return attr


class RunManager:
    """Starts, resumes and terminates runs; one shared executor for all of them (local or
    Ray, as the settings say)."""

    def __init__(self, backend: Backend, on_event: EventSink | None = None) -> None:
        self._backend = backend
        self._on_event = on_event
        self._executor: Executor | None = None
        self._lock = threading.Lock()
        self._active: dict[str, tuple[threading.Thread, _CancelableStore]] = {}
        self._leases = backend.leases(SERVER)
        self._stopping = threading.Event()
        self._adopter: threading.Thread | None = None

    def executor(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = self._backend.executor()
            return self._executor

    def create_run(self, spec: dict[str, Any], parameters: dict[str, Any], **kw: Any) -> Any:
        """Store a PENDING run (checked: spec and parameters) without starting it."""
        return self._driver(self._backend.metadata).create_run(spec, parameters, **kw)

    def start(self, run_id: str) -> None:
        """Drive `run_id` (new, failed or canceled) in a background thread.

        While the server stops, the run is only marked as this server kind's, so that the
        next server to start adopts it.
        """
        if self._stopping.is_set():
            self._leave_for_next_server(run_id)
            return
        store = _CancelableStore(self._backend.metadata)
        thread = threading.Thread(
            target=self._drive, args=(run_id, store), name=f"pinnace-run-{run_id[:8]}", daemon=True
        )
        with self._lock:
            if run_id in self._active:
                return
            self._active[run_id] = (thread, store)
        thread.start()

    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    def is_active(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._active

    def terminate(self, run_id: str) -> bool:
        """Ask the run's driver to stop; False when this server does not drive the run."""
        with self._lock:
            entry = self._active.get(run_id)
        if entry is None:
            return False
        entry[1].cancel_requested = True
        self._cancel_executions(run_id)
        return True

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        with self._lock:
            entry = self._active.get(run_id)
        if entry is not None:
            entry[0].join(timeout)

    def close(self, grace: float = 0.0, timeout: float = 30.0) -> None:
        """Stop: start nothing new, give in-flight runs `grace` seconds to finish, then
        suspend the rest (their task trees are killed, their state is left for the next
        server to adopt: never recorded as canceled), and release the executor."""
        self._stopping.set()
        if self._adopter is not None:
            self._adopter.join(timeout=5)
        deadline = time.monotonic() + grace
        for thread in self._threads():
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            entries = dict(self._active)
        for run_id, (_, store) in entries.items():
            store.suspend_requested = True
            self._cancel_executions(run_id)
        for thread in self._threads():
            thread.join(timeout)
        if self._executor is not None:
            self._executor.close()

    def adopt_orphans(self, *, cli_runs: bool = False) -> list[str]:
        """Drive the unfinished runs whose driver died: this server kind's (their lease
        expired), and with `cli_runs` those of `pinnace run` processes too. Another server
        adopting the same run at once is harmless: the lease goes to one of them."""
        kinds = (SERVER, CLI, None) if cli_runs else (SERVER,)
        adopted = []
        for state in _ACTIVE:
            for run in self._backend.metadata.list_runs(limit=10_000, state=state, spec=False):
                if run.lease_kind in kinds and orphaned(run) and not self.is_active(run.run_id):
                    _LOG.info("adopting run %s, left unfinished by %s", run.run_id, run.owner)
                    self.start(run.run_id)
                    adopted.append(run.run_id)
        return adopted

    def keep_adopting(self, *, cli_runs: bool = False) -> None:
        """Adopt orphaned runs now and then every half lease, until the server stops."""
        interval = self._backend.settings.lease_seconds / 2

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    self.adopt_orphans(cli_runs=cli_runs)
                except Exception:
                    _LOG.exception("cannot adopt orphaned runs")

        self._adopter = threading.Thread(target=loop, daemon=True, name="pinnace-adopter")
        self._adopter.start()

    def _threads(self) -> list[threading.Thread]:
        with self._lock:
            return [thread for thread, _ in self._active.values()]

    def _cancel_executions(self, run_id: str) -> None:
        executor = self.executor()
        for execution in self._backend.metadata.list_executions(run_id):
            if execution.state is TaskState.RUNNING:
                executor.cancel(execution.execution_id)

    def _leave_for_next_server(self, run_id: str) -> None:
        store = self._backend.metadata
        if try_acquire(store, run_id, self._leases.owner, SERVER, 1.0) is not None:
            give_up(store, run_id, self._leases.owner)

    def _driver(self, store: Any) -> Any:
        from ..engine.driver import RunDriver

        settings = self._backend.settings
        return RunDriver(
            metadata=store,
            artifacts=self._backend.artifacts,
            executor=self.executor(),
            work_dir=settings.work_dir,
            logs_dir=settings.logs_dir,
            leases=self._leases,
            **({"on_event": self._on_event} if self._on_event else {}),
        )

    def _drive(self, run_id: str, store: _CancelableStore) -> None:
        settle = True
        try:
            self._driver(store).drive(run_id)
        except KeyboardInterrupt:  # RunCanceled here, or CancelRequested from elsewhere
            _LOG.info("run %s canceled", run_id)
        except (DrivingStopped, RunBusyError) as exc:
            # Suspended by a stopping server, taken over, or driven elsewhere: the run is
            # not ours to settle.
            _LOG.info("run %s: left to its next driver (%s)", run_id, type(exc).__name__)
            settle = False
        except Exception:
            _LOG.exception("run %s: the driver failed", run_id)
        finally:
            try:
                if settle:
                    self._settle(run_id, canceled=store.cancel_requested)
            except Exception:
                _LOG.exception("run %s: cannot settle", run_id)
            with self._lock:
                self._active.pop(run_id, None)

    def _settle(self, run_id: str, *, canceled: bool) -> None:
        """Leave nothing RUNNING behind: the driver may have stopped before its abort path."""
        metadata = self._backend.metadata
        now = datetime.now(timezone.utc)
        for execution in metadata.list_executions(run_id):
            if execution.state is TaskState.RUNNING:
                metadata.update_execution(
                    execution.execution_id,
                    state=TaskState.CANCELED,
                    finished_at=now,
                    error=_CANCEL_REASON,
                )
        try:
            run = metadata.get_run(run_id, spec=False)
        except NotFoundError:
            return  # deleted meanwhile
        if run.state.terminal:
            return
        for task in metadata.list_tasks(run_id):
            if not task.state.terminal:
                task.state, task.error, task.finished_at = TaskState.CANCELED, _CANCEL_REASON, now
                metadata.upsert_task(task)
        final = RunState.CANCELED if canceled else RunState.FAILED
        metadata.update_run(
            run_id,
            state=final,
            finished_at=now,
            error=_CANCEL_REASON if canceled else "the run's driver stopped",
        )
