"""Who drives a run, and settling runs whose driver died (a killed `pinnace` process)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..model.state import RunState, TaskState
from ..stores.base import MetadataStore

#: kills the survivors of an execution from its recorded process identity
LeftoverKiller = Callable[[Mapping[str, Any]], int]


def current_owner() -> str:
    """An identity for this process that survives pid reuse: host, pid and start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process named by `owner` still runs (unknown hosts count as alive)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not ticks or _start_ticks(pid) == ticks


def settle_orphaned_runs(
    store: MetadataStore, *, kill_leftover: LeftoverKiller | None = None
) -> list[str]:
    """Mark runs left PENDING/RUNNING by a dead driver as FAILED, with the reason.

    Finished tasks keep their outputs, so `pinnace runs resume RUN_ID` reuses them.
    `kill_leftover` kills what survives of a running execution's process tree (from the
    process identity its executor recorded). Returns the ids of the runs settled.
    """
    settled = []
    for state in (RunState.RUNNING, RunState.PENDING, RunState.CANCELING):
        for run in store.list_runs(limit=10_000, state=state):
            if owner_alive(run.owner):
                continue
            reason = (
                f"the process driving this run ({run.owner or 'unknown'}) exited before "
                "the run finished; resume it with `pinnace runs resume "
                f"{run.run_id}` (finished tasks are reused)"
            )
            now = datetime.now(timezone.utc)
            for task in store.list_tasks(run.run_id):
                if task.state in (TaskState.RUNNING, TaskState.PENDING):
                    task.state = (
                        TaskState.FAILED if task.state is TaskState.RUNNING else TaskState.CANCELED
                    )
                    task.error = "interrupted: " + reason
                    task.finished_at = now
                    store.upsert_task(task)
            for execution in store.list_executions(run.run_id):
                if execution.state is TaskState.RUNNING:
                    if kill_leftover is not None and execution.process:
                        kill_leftover(execution.process)
                    store.update_execution(
                        execution.execution_id,
                        state=TaskState.FAILED,
                        finished_at=now,
                        error="interrupted: " + reason,
                    )
            store.update_run(run.run_id, state=RunState.FAILED, error=reason, finished_at=now)
            settled.append(run.run_id)
    return settled


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime); the command name in parentheses may contain spaces.
    return stat.rsplit(")", 1)[-1].split()[19]
