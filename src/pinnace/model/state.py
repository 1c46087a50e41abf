"""Run and task state machines: the states, which are terminal, and the allowed moves."""

from __future__ import annotations

from enum import Enum

from ..errors import PinnaceError


class IllegalTransition(PinnaceError):
    """A state change the state machine does not allow (a bug, never user input)."""


class RunState(str, Enum):
    """A run's state; names and values follow KFP's `RuntimeState`."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in _RUN_TERMINAL

    def check_move(self, new: RunState) -> RunState:
        if new not in _RUN_MOVES[self]:
            raise IllegalTransition(f"run cannot move from {self.value} to {new.value}")
        return new


class TaskState(str, Enum):
    """A task's state inside a run. CACHED means its outputs came from an earlier execution."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in _TASK_TERMINAL

    @property
    def ok(self) -> bool:
        """Whether downstream tasks may consume this task's outputs."""
        return self in (TaskState.SUCCEEDED, TaskState.CACHED)

    def check_move(self, new: TaskState) -> TaskState:
        if new not in _TASK_MOVES[self]:
            raise IllegalTransition(f"task cannot move from {self.value} to {new.value}")
        return new


_RUN_TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELED})
_RUN_MOVES: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.FAILED, RunState.CANCELED}),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELING, RunState.CANCELED}
    ),
    RunState.CANCELING: frozenset({RunState.CANCELED, RunState.FAILED}),
    # A finished run may be resumed or retried: it goes back to RUNNING.
    RunState.FAILED: frozenset({RunState.RUNNING}),
    RunState.CANCELED: frozenset({RunState.RUNNING}),
    RunState.SUCCEEDED: frozenset(),
}

_TASK_TERMINAL = frozenset(
    {TaskState.SUCCEEDED, TaskState.CACHED, TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELED}
)
_TASK_MOVES: dict[TaskState, frozenset[TaskState]] = {
    TaskState.PENDING: frozenset(
        {
            TaskState.RUNNING,
            TaskState.CACHED,
            TaskState.SKIPPED,
            TaskState.CANCELED,
            TaskState.FAILED,
        }
    ),
    TaskState.RUNNING: frozenset(
        {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELED, TaskState.RUNNING}
    ),
    # Resuming a run puts its unfinished tasks back to PENDING.
    TaskState.FAILED: frozenset({TaskState.PENDING}),
    TaskState.CANCELED: frozenset({TaskState.PENDING}),
    TaskState.SKIPPED: frozenset({TaskState.PENDING}),
    TaskState.SUCCEEDED: frozenset(),
    TaskState.CACHED: frozenset(),
}
