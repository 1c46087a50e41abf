"""Progress events the engine reports while a run goes (for the CLI, the server, tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class AttemptEvent(str, Enum):
    """Events about an execution that are not task states (the task stays RUNNING)."""

    #: an attempt failed and the task will run again after its backoff
    RETRYING = "RETRYING"


@dataclass(frozen=True)
class EngineEvent:
    """A run or task changed state. `task_name` is None for run-level events.

    `state` is the value of a RunState (run events), a TaskState or an AttemptEvent.
    """

    run_id: str
    task_name: str | None
    state: str
    message: str = ""
    seconds: float | None = None


EventSink = Callable[[EngineEvent], None]


def ignore_events(event: EngineEvent) -> None:
    """The default sink: drop events."""
