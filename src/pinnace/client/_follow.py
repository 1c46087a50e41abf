"""Following a server run: poll its task states and report each change, until it ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._client import _DONE, Client

#: (task name or None for the run, new state, error message or "")
ChangeSink = Callable[[str | None, str, str], None]


def task_states(run: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """task id -> (state, error message) from a run's `run_details`; the root DAG task (the
    run itself, without a parent) is left out."""
    details = (run.get("run_details") or {}).get("task_details") or []
    return {
        t["task_id"]: (t.get("state", ""), (t.get("error") or {}).get("message", ""))
        for t in details
        if t.get("task_id") and not (t["task_id"] == "root" and not t.get("parent_task_id"))
    }


def follow_run(
    client: Client, run_id: str, on_change: ChangeSink, *, poll_seconds: float = 0.5
) -> dict[str, Any]:
    """Poll `run_id` until it is finished, calling `on_change` once per state change."""
    seen: dict[str | None, str] = {}
    while True:
        run = client.get_run(run_id)
        for task, (state, error) in task_states(run).items():
            if state and seen.get(task) != state:
                seen[task] = state
                on_change(task, state, error)
        state = str(run.get("state", "")).upper()
        if seen.get(None) != state:
            seen[None] = state
            on_change(None, state, (run.get("error") or {}).get("message", ""))
        if state in _DONE:
            return run
        time.sleep(poll_seconds)


def result_document(run: dict[str, Any]) -> dict[str, Any]:
    """A finished server run in the shape of `pinnace run --json` (outputs the server
    does not report yet stay empty)."""
    return {
        "run_id": run["run_id"],
        "state": run.get("state", ""),
        "tasks": [
            {"name": task, "state": state, "outputs": {}}
            for task, (state, _) in task_states(run).items()
        ],
        "outputs": {},
    }
