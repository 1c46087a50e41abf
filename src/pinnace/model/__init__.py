"""The model layer below engine and stores: run and task state machines."""

from __future__ import annotations

from .state import IllegalTransition, RunState, TaskState

__all__ = ["IllegalTransition", "RunState", "TaskState"]
