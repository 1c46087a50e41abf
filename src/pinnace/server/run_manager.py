"""Drives the server's runs in background threads with the same engine the CLI uses.

Terminating a run works through the driver's own abort path: the run's store wrapper
raises `RunCanceled` (a KeyboardInterrupt, which the driver records as CANCELED) at the
driver's next write, after the run's running executions were cancelled in the executor.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
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


class RunCanceled(KeyboardInterrupt):
    """Raised into a driver to stop its run; the driver marks the run CANCELED."""


class _CancelableStore:
    """The metadata store as one run's driver sees it; see the module docstring."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store
        self.cancel_requested = False
        self._raised = False

    def check_canceled(self) -> None:
        """Raise RunCanceled if the run was asked to stop (the driver calls it while idle)."""
        if self.cancel_requested and not self._raised:
            self._raised = True
            raise RunCanceled()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name in _WRITES and self.cancel_requested and not self._raised:
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

    def executor(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = self._backend.executor()
            return self._executor

    def create_run(self, spec: dict[str, Any], parameters: dict[str, Any], **kw: Any) -> Any:
        """Store a PENDING run (checked: spec and parameters) without starting it."""
        return self._driver(self._backend.metadata).create_run(spec, parameters, **kw)

    def start(self, run_id: str) -> None:
        """Drive `run_id` (new, failed or canceled) in a background thread."""
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
        executor = self.executor()
        for execution in self._backend.metadata.list_executions(run_id):
            if execution.state is TaskState.RUNNING:
                executor.cancel(execution.execution_id)
        return True

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        with self._lock:
            entry = self._active.get(run_id)
        if entry is not None:
            entry[0].join(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Terminate what still runs and release the executor."""
        with self._lock:
            run_ids = list(self._active)
        for run_id in run_ids:
            self.terminate(run_id)
        for run_id in run_ids:
            self.wait(run_id, timeout)
        if self._executor is not None:
            self._executor.close()

    def _driver(self, store: Any) -> Any:
        from ..engine.driver import RunDriver

        settings = self._backend.settings
        return RunDriver(
            metadata=store,
            artifacts=self._backend.artifacts,
            executor=self.executor(),
            work_dir=settings.work_dir,
            logs_dir=settings.logs_dir,
            **({"on_event": self._on_event} if self._on_event else {}),
        )

    def _drive(self, run_id: str, store: _CancelableStore) -> None:
        try:
            self._driver(store).drive(run_id)
        except RunCanceled:
            _LOG.info("run %s canceled", run_id)
        except Exception:
            _LOG.exception("run %s: the driver failed", run_id)
        finally:
            try:
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
            run = metadata.get_run(run_id)
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
