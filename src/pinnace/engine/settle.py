"""Settling runs whose driver died: FAILED with the reason, or left for a server to adopt.

A run is orphaned when its lease expired (see pinnace.engine.lease), or, for a run that
never had one, when the process named as its owner is gone. `settle_orphaned_runs` settles
the orphaned runs of the kinds it is given (by default those of `pinnace run`: a CLI
command never takes a server's runs away; a server adopts those). The running executions'
surviving processes are killed first.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..model.state import RunState, TaskState
from ..stores.base import MetadataStore, RunRecord
from .lease import CLI, SETTLER, give_up, lease_live, try_acquire
from .owners import LeftoverKiller, current_owner, owner_alive

__all__ = [
    "LeftoverKiller",
    "current_owner",
    "interrupt_tasks",
    "orphaned",
    "owner_alive",
    "settle_orphaned_runs",
]

_ACTIVE = (RunState.RUNNING, RunState.PENDING, RunState.CANCELING)


def orphaned(run: RunRecord, now: datetime | None = None) -> bool:
    """Whether `run` is unfinished and nobody drives it any more."""
    if run.state not in _ACTIVE:
        return False
    if run.lease_owner is not None:
        # A holder on this machine that is gone (pid and start time) need not be waited for.
        return not lease_live(run, now) or not owner_alive(run.lease_owner)
    return not owner_alive(run.owner)


def settle_orphaned_runs(
    store: MetadataStore,
    *,
    kill_leftover: LeftoverKiller | None = None,
    kinds: tuple[str | None, ...] = (CLI, None),
) -> list[str]:
    """Mark orphaned runs whose lease kind is in `kinds` FAILED, with the reason.

    Finished tasks keep their outputs, so `pinnace runs resume RUN_ID` reuses them.
    `kill_leftover` kills what survives of a running execution's process tree (from the
    process identity its executor recorded). Returns the ids of the runs settled.
    """
    settled = []
    me = current_owner()
    for state in _ACTIVE:
        for run in store.list_runs(limit=10_000, state=state, spec=False):
            if run.lease_kind not in kinds or not orphaned(run):
                continue
            # A short lease of our own: a server adopting it, or another settler, waits.
            if try_acquire(store, run.run_id, me, SETTLER, 60.0) is None:
                continue
            driver = run.lease_owner or run.owner or "unknown"
            reason = (
                f"the process driving this run ({driver}) exited before the run finished; "
                f"resume it with `pinnace runs resume {run.run_id}` (finished tasks are reused)"
            )
            interrupt_tasks(store, run.run_id, reason, kill_leftover, cancel_pending=True)
            now = datetime.now(timezone.utc)
            store.update_run(run.run_id, state=RunState.FAILED, error=reason, finished_at=now)
            give_up(store, run.run_id, me)
            settled.append(run.run_id)
    return settled


def interrupt_tasks(
    store: MetadataStore,
    run_id: str,
    reason: str,
    kill_leftover: LeftoverKiller | None,
    *,
    cancel_pending: bool,
) -> None:
    """Record the running executions and tasks of a stopped driver as interrupted.

    Their surviving processes are killed first (by recorded identity), so a new attempt
    never runs beside an old one. Pending tasks are CANCELED when `cancel_pending`.
    """
    now = datetime.now(timezone.utc)
    for execution in store.list_executions(run_id):
        if execution.state is TaskState.RUNNING:
            if kill_leftover is not None and execution.process:
                kill_leftover(execution.process)
            store.update_execution(
                execution.execution_id,
                state=TaskState.FAILED,
                finished_at=now,
                error="interrupted: " + reason,
            )
    for task in store.list_tasks(run_id):
        if task.state is TaskState.RUNNING or (cancel_pending and task.state is TaskState.PENDING):
            task.state = TaskState.FAILED if task.state is TaskState.RUNNING else TaskState.CANCELED
            task.error = "interrupted: " + reason
            task.finished_at = now
            store.upsert_task(task)
