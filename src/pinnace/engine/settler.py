"""The settler: records where task instances end up, and closes finished groups.

Every move is written to the metadata store, then reported as an event. A DAG instance
(condition, loop, loop iteration, exit handler, nested pipeline) finishes when all of its
children are terminal: FAILED if one failed, CANCELED if one was stopped by a failure
elsewhere, else SUCCEEDED with its outputs taken from `dag.outputs`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from ..model.state import RunState, TaskState
from ..stores.base import ArtifactRecord, MetadataStore, RunRecord, TaskRecord
from .events import AttemptEvent, EngineEvent, EventSink
from .groups import GroupOutcome, collect_iterations, dag_outputs, group_outcome
from .inputs import BoundInputs, TaskOutputs
from .nodes import Node, NodeKind, Progress
from .plan import PlannedTask

#: the error of tasks that never started because another task failed
STOPPED = "not started: "


def now() -> datetime:
    return datetime.now(timezone.utc)


class Settler:
    """Writes task moves, failures, skips and group outcomes, then reports them."""

    def __init__(self, metadata: MetadataStore, on_event: EventSink) -> None:
        self.metadata = metadata
        self.on_event = on_event
        #: events of the moves written in the current round, reported once it is committed
        self._held: list[EngineEvent] | None = None

    def emit(
        self,
        run_id: str,
        task: str | None,
        state: RunState | TaskState | AttemptEvent,
        message: str = "",
        seconds: float | None = None,
    ) -> None:
        event = EngineEvent(run_id, task, state.value, message, seconds)
        if self._held is not None:
            self._held.append(event)
        else:
            self.on_event(event)

    @contextmanager
    def round(self) -> Iterator[None]:
        """One scheduling round: its writes are committed together when it ends (the
        store's batch), and its events reported after that, so that whoever hears of a move
        finds it in the store."""
        if self._held is not None:  # nested: the outer round commits and reports
            yield
            return
        self._held = []
        try:
            with self.metadata.batch():
                yield
        finally:
            held, self._held = self._held, None
            for event in held:
                self.on_event(event)

    # -- moves ------------------------------------------------------------------------------

    def move(self, run: RunRecord, record: TaskRecord, state: TaskState, error: str | None) -> None:
        record.state = record.state.check_move(state)
        record.error = error
        record.finished_at = now()
        self.metadata.upsert_task(record)
        self.emit(run.run_id, record.task_name, state, error or "")

    def mark_running(self, run: RunRecord, record: TaskRecord, inputs: BoundInputs) -> None:
        """A group instance starts: its inputs are bound, its children are about to be added."""
        record.state = record.state.check_move(TaskState.RUNNING)
        record.inputs = inputs.as_dict()
        record.started_at = now()
        self.metadata.upsert_task(record)
        self.emit(run.run_id, record.task_name, TaskState.RUNNING, "started")

    def fail(
        self,
        run: RunRecord,
        progress: Progress,
        path: str,
        error: str,
        seconds: float | None = None,
    ) -> None:
        """The instance failed: no new task starts after this (exit tasks aside)."""
        record = progress.records[path]
        record.state = record.state.check_move(TaskState.FAILED)
        record.error = error
        record.finished_at = now()
        self.metadata.upsert_task(record)
        progress.failure = progress.failure or f"task {path!r} failed: {error}"
        self.emit(run.run_id, path, TaskState.FAILED, error, seconds)

    def record_artifacts(self, run_id: str, path: str, outputs: TaskOutputs) -> None:
        for name, artifacts in outputs.artifacts.items():
            for artifact in artifacts:
                self.metadata.add_artifact(
                    ArtifactRecord(
                        artifact_id=uuid.uuid4().hex,
                        run_id=run_id,
                        task_name=path,
                        output_name=name,
                        uri=artifact["uri"],
                        schema_title=artifact.get("type", {}).get("schemaTitle", "system.Artifact"),
                        metadata=artifact.get("metadata", {}),
                        created_at=now(),
                    )
                )

    # -- skipping ---------------------------------------------------------------------------

    def skip(self, run: RunRecord, progress: Progress, path: str, reason: str) -> bool:
        """SKIPPED unless already terminal; whether it moved."""
        record = progress.records[path]
        if record.state.terminal:
            return False
        self.move(run, record, TaskState.SKIPPED, reason)
        return True

    def stop(self, run: RunRecord, progress: Progress, path: str) -> None:
        """The instance will never start because the run stopped (a failure elsewhere)."""
        if self.skip(run, progress, path, STOPPED + (progress.failure or "run stopped")):
            progress.stopped.add(path)

    def skip_subtree(
        self,
        run: RunRecord,
        progress: Progress,
        path: str,
        task: PlannedTask,
        reason: str,
    ) -> None:
        """A false condition: the instance and the tasks it contains are SKIPPED."""
        self.skip(run, progress, path, reason)
        if task.iterator:
            return  # iterations are unknown until the loop starts
        for child in task.children:
            child_path = f"{path}/{child.name}"
            record = progress.records.get(child_path)
            if record is None:
                record = TaskRecord(
                    run_id=run.run_id,
                    task_name=child_path,
                    display_name=child.display_name,
                    state=TaskState.PENDING,
                    component=child.component_name,
                )
                progress.records[child_path] = record
            elif record.state.ok:
                continue
            else:
                record.state = TaskState.PENDING
            self.skip_subtree(run, progress, child_path, child, f"inside {path!r}: {reason}")

    def settle_leftovers(self, run: RunRecord, progress: Progress) -> None:
        """Nothing runs any more: whatever has not started never will."""
        for path in list(progress.pending):
            progress.take_pending(path)
            self.stop(run, progress, path)
        self.close_groups(run, progress)
        for record in progress.records.values():
            if not record.state.terminal and record.state is not TaskState.RUNNING:
                self.move(run, record, TaskState.SKIPPED, "not reached")

    # -- groups -----------------------------------------------------------------------------

    def close_groups(self, run: RunRecord, progress: Progress) -> bool:
        """Close every running group whose children are all terminal; whether one closed."""
        closed = False
        running = [p for p in progress.groups if progress.records[p].state is TaskState.RUNNING]
        # Deepest first, so that a group closes in the same pass as its last child group.
        for path in sorted(running, key=lambda p: -p.count("/")):
            node = progress.nodes[path]
            if progress.records[path].state is not TaskState.RUNNING:
                continue
            children = [progress.records[c] for c in node.children]
            if all(c.state.terminal for c in children):
                self._close_group(run, progress, node, children)
                closed = True
        return closed

    def _close_group(
        self, run: RunRecord, progress: Progress, node: Node, children: list[TaskRecord]
    ) -> None:
        outcome: GroupOutcome = group_outcome(
            children,
            stopped=progress.stopped,
            is_group=lambda p: p in progress.nodes and progress.nodes[p].is_group,
        )
        record = progress.records[node.path]
        if outcome.state is TaskState.SUCCEEDED:
            if node.kind is NodeKind.LOOP:
                outputs = collect_iterations(
                    node.task, [progress.finished[c] for c in node.children]
                )
            else:
                names = {
                    c[len(node.path) + 1 :]: progress.finished[c]
                    for c in node.children
                    if c in progress.finished
                }
                outputs = dag_outputs(node.task.dag_outputs, names)
            record.outputs = outputs.as_dict()
            progress.finished[node.path] = outputs
        self.move(run, record, outcome.state, outcome.error)
