"""How a DAG instance ends: its outcome follows its children's states, never their messages."""

from __future__ import annotations

from pinnace.engine.groups import GroupOutcome, group_outcome
from pinnace.model.state import TaskState
from pinnace.stores.base import TaskRecord


def record(path: str, state: TaskState, error: str | None = None) -> TaskRecord:
    return TaskRecord("r", path, path, state, error=error)


def outcome(*children: TaskRecord, stopped: frozenset[str] = frozenset()) -> GroupOutcome:
    return group_outcome(children, stopped=stopped, is_group=lambda path: path.endswith("-dag"))


def test_all_done_or_skipped_by_a_condition_succeeds():
    done = record("g/a", TaskState.SUCCEEDED)
    skipped = record("g/b", TaskState.SKIPPED, "condition 'x' is false")
    assert outcome(done, skipped) == GroupOutcome(TaskState.SUCCEEDED)


def test_a_failed_task_fails_the_group_naming_it_a_failed_group_passes_its_error_on():
    failed = record("g/a", TaskState.FAILED, "exited with code 1")
    expected = GroupOutcome(TaskState.FAILED, "task 'g/a' failed: exited with code 1")
    assert outcome(failed) == expected
    inner = record("g/inner-dag", TaskState.FAILED, "task 'g/inner-dag/x' failed: boom")
    assert outcome(inner).error == "task 'g/inner-dag/x' failed: boom"


def test_a_child_stopped_by_a_failure_elsewhere_cancels_the_group():
    # Recorded as SKIPPED; what makes it "stopped" is the driver's bookkeeping, not its text.
    stopped = record("g/a", TaskState.SKIPPED, "any message at all")
    assert outcome(stopped, stopped=frozenset({"g/a"})) == GroupOutcome(
        TaskState.CANCELED, "any message at all"
    )
    assert outcome(stopped).state is TaskState.SUCCEEDED  # the same record, skipped by a condition
    canceled = record("g/b", TaskState.CANCELED)
    assert outcome(canceled) == GroupOutcome(TaskState.CANCELED, "canceled")
