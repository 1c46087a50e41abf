"""Scheduling task instances: readiness, conditions, DAG expansion, loops, group outcomes.

A DAG instance (condition, loop, loop iteration, exit handler, nested pipeline) is expanded
when it starts: its tasks become instances with the DAG's inputs as their scope. It finishes
when all of them are terminal: FAILED if one failed, CANCELED if one was stopped by a
failure elsewhere, else SUCCEEDED with its outputs taken from `dag.outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import PinnaceError
from ..model.state import TaskState
from ..stores.base import RunRecord, TaskRecord
from .cel import evaluate_condition
from .groups import (
    collect_iterations,
    dag_outputs,
    final_status,
    iteration_inputs,
    loop_items,
    parallelism_limit,
)
from .inputs import ArtifactDict, BoundInputs, TaskOutputs, bind_inputs, runtime_values
from .nodes import Node, Progress, iteration_path
from .plan import PlannedTask

if TYPE_CHECKING:
    from ..executors.base import Executor
    from ..stores.base import ArtifactStore, MetadataStore

#: the error of tasks that never started because another task failed
STOPPED = "not started: "


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Scheduling:
    """The scheduling half of RunDriver (mixed in; `self` is the driver)."""

    # What this half uses from RunDriver and Leaves, declared for the type checker only.
    metadata: MetadataStore
    executor: Executor
    artifacts: ArtifactStore

    if TYPE_CHECKING:

        def _emit(
            self,
            run_id: str,
            task: str | None,
            state: str,
            message: str = "",
            seconds: float | None = None,
        ) -> None: ...

        def _start_container(
            self,
            run: RunRecord,
            progress: Progress,
            node: Node,
            inputs: BoundInputs,
            *,
            retry: bool = False,
        ) -> None: ...

        def _import(
            self, run: RunRecord, progress: Progress, node: Node, inputs: BoundInputs
        ) -> None: ...

        def _fail(
            self,
            run: RunRecord,
            progress: Progress,
            path: str,
            error: str,
            seconds: float | None = None,
        ) -> None: ...

    # -- instances --------------------------------------------------------------------------

    def _add_node(
        self,
        run: RunRecord,
        progress: Progress,
        task: PlannedTask,
        *,
        prefix: str,
        parent: str | None,
        parameters: Mapping[str, Any],
        artifacts: Mapping[str, list[ArtifactDict]],
        iteration: int | None = None,
        inputs: BoundInputs | None = None,
    ) -> Node:
        """Make an instance known: reuse its finished record (resume), else make it PENDING."""
        path = (
            iteration_path(parent or "", iteration) if iteration is not None else prefix + task.name
        )
        node = Node(
            path=path,
            task=task,
            prefix=prefix,
            parent=parent,
            parameters=parameters,
            artifacts=artifacts,
            iteration=iteration,
            inputs=inputs,
        )
        progress.nodes[path] = node
        record = progress.records.get(path)
        if record is not None and record.state.ok:
            progress.finished[path] = TaskOutputs.from_dict(record.outputs)
            return node
        display = task.display_name if iteration is None else f"{task.display_name}[{iteration}]"
        stored = False
        if record is None:
            record = TaskRecord(
                run_id=run.run_id,
                task_name=path,
                display_name=display,
                state=TaskState.PENDING,
                component=task.component_name,
            )
            progress.records[path] = record
        elif record.state is not TaskState.PENDING:
            # A resumed run: the instance runs again (its finished children are reused).
            record.state, record.error, record.finished_at = TaskState.PENDING, None, None
        else:
            stored = True  # PENDING in the store already (create_run): nothing to write
        if not stored:
            self.metadata.upsert_task(record)
        progress.pending.append(path)
        return node

    # -- the scheduling step ----------------------------------------------------------------

    def _advance(self, run: RunRecord, progress: Progress) -> None:
        """Start what can start, skip what never will, close finished groups; until stable."""
        changed = True
        while changed:
            changed = self._start_due_retries(run, progress)
            for path in list(progress.pending):
                node = progress.nodes[path]
                verdict = self._readiness(progress, node)
                if verdict == "wait":
                    continue
                progress.pending.remove(path)
                changed = True
                if verdict == "skip":
                    self._skip(run, progress, path, STOPPED + (progress.failure or "run stopped"))
                else:
                    self._start_node(run, progress, node)
            changed = self._close_groups(run, progress) or changed

    def _start_due_retries(self, run: RunRecord, progress: Progress) -> bool:
        import time

        started = False
        for not_before, path in list(progress.delayed):
            if not_before <= time.monotonic() and len(progress.running) < self.executor.capacity:
                progress.delayed.remove((not_before, path))
                self._start_container(
                    run,
                    progress,
                    progress.nodes[path],
                    BoundInputs(**progress.records[path].inputs),
                    retry=True,
                )
                started = True
        return started

    def _readiness(self, progress: Progress, node: Node) -> str:
        """ "go", "wait" or "skip" (it can never start: a task failed)."""
        if node.kind == "iteration":
            if progress.failure:
                return "skip"
            loop = progress.nodes[node.parent or ""]
            limit = parallelism_limit(loop.task)
            active = sum(progress.records[c].state is TaskState.RUNNING for c in loop.children)
            return "wait" if limit and active >= limit else "go"
        upstream = [progress.records[node.sibling(u)].state for u in node.task.upstream]
        if node.task.runs_after_failure:
            go = all(s.terminal for s in upstream)
        elif progress.failure:
            return "skip"
        else:
            go = all(s.ok or s is TaskState.SKIPPED for s in upstream)
        if go and node.kind == "container" and len(progress.running) >= self.executor.capacity:
            return "wait"
        return "go" if go else "wait"

    def _start_node(self, run: RunRecord, progress: Progress, node: Node) -> None:
        try:
            inputs = node.inputs or self._bind(run, progress, node)
            if (
                node.task.condition
                and node.iteration is None
                and not evaluate_condition(node.task.condition, inputs.parameters, task=node.path)
            ):
                self._skip_subtree(
                    run,
                    progress,
                    node.path,
                    node.task,
                    f"condition {node.task.condition!r} is false",
                )
                return
            if node.kind == "loop":
                items = loop_items(node.task, inputs, node.path)
        except PinnaceError as exc:
            self._fail(run, progress, node.path, str(exc))
            return
        if node.kind == "container":
            self._start_container(run, progress, node, inputs)
        elif node.kind == "importer":
            self._import(run, progress, node, inputs)
        elif node.kind == "loop":
            self._expand_loop(run, progress, node, inputs, items)
        else:
            self._expand(run, progress, node, inputs)

    def _bind(self, run: RunRecord, progress: Progress, node: Node) -> BoundInputs:
        def status(producer: str) -> dict[str, Any]:
            return final_status(progress.records[node.sibling(producer)], run.display_name)

        return bind_inputs(
            node.task,
            node.parameters,
            progress.sibling_outputs(node),
            artifacts=node.artifacts,
            final_status=status,
            lenient=node.task.runs_after_failure,
            coerce=not node.is_group,
            where=node.task.name if not node.prefix else node.path,
            runtime=runtime_values(
                run_id=run.run_id,
                display_name=run.display_name,
                pipeline_name=run.pipeline_name,
                created_at=run.created_at,
                scheduled_at=run.scheduled_at,
                task_name=node.task.name,
                task_path=node.path,
                pipeline_root=str(getattr(self.artifacts, "root", "")),
            ),
        )

    # -- groups -----------------------------------------------------------------------------

    def _expand(self, run: RunRecord, progress: Progress, node: Node, inputs: BoundInputs) -> None:
        self._mark_running(run, progress, node.path, inputs)
        for child in node.task.children:
            added = self._add_node(
                run,
                progress,
                child,
                prefix=node.path + "/",
                parent=node.path,
                parameters=inputs.parameters,
                artifacts=inputs.artifacts,
            )
            node.children.append(added.path)

    def _expand_loop(
        self,
        run: RunRecord,
        progress: Progress,
        node: Node,
        inputs: BoundInputs,
        items: list[Any],
    ) -> None:
        self._mark_running(run, progress, node.path, inputs)
        for index, item in enumerate(items):
            bound = iteration_inputs(node.task, inputs, item)
            added = self._add_node(
                run,
                progress,
                node.task,
                prefix=node.prefix,
                parent=node.path,
                parameters=bound.parameters,
                artifacts=bound.artifacts,
                iteration=index,
                inputs=bound,
            )
            node.children.append(added.path)

    def _mark_running(
        self, run: RunRecord, progress: Progress, path: str, inputs: BoundInputs
    ) -> None:
        record = progress.records[path]
        record.state = record.state.check_move(TaskState.RUNNING)
        record.inputs = inputs.as_dict()
        record.started_at = _now()
        self.metadata.upsert_task(record)
        self._emit(run.run_id, path, TaskState.RUNNING.value, "started")

    def _close_groups(self, run: RunRecord, progress: Progress) -> bool:
        closed = False
        # Deepest first, so that a group closes in the same pass as its last child group.
        for path in sorted(progress.nodes, key=lambda p: -p.count("/")):
            node = progress.nodes[path]
            record = progress.records[path]
            if not node.is_group or record.state is not TaskState.RUNNING:
                continue
            children = [progress.records[c] for c in node.children]
            if all(c.state.terminal for c in children):
                self._close_group(run, progress, node, children)
                closed = True
        return closed

    def _close_group(
        self, run: RunRecord, progress: Progress, node: Node, children: list[TaskRecord]
    ) -> None:
        failed = next((c for c in children if c.state is TaskState.FAILED), None)
        stopped = next(
            (
                c
                for c in children
                if c.state is TaskState.CANCELED or (c.error or "").startswith(STOPPED)
            ),
            None,
        )
        record = progress.records[node.path]
        if failed is not None:
            error = failed.error or "failed"
            if (
                failed.task_name not in progress.nodes
                or not progress.nodes[failed.task_name].is_group
            ):
                error = f"task {failed.task_name!r} failed: {error}"
            self._move(run, record, TaskState.FAILED, error)
        elif stopped is not None:
            self._move(run, record, TaskState.CANCELED, stopped.error or "canceled")
        else:
            if node.kind == "loop":
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
            self._move(run, record, TaskState.SUCCEEDED, None)

    def _move(
        self, run: RunRecord, record: TaskRecord, state: TaskState, error: str | None
    ) -> None:
        record.state = record.state.check_move(state)
        record.error = error
        record.finished_at = _now()
        self.metadata.upsert_task(record)
        self._emit(run.run_id, record.task_name, state.value, error or "")

    # -- skipping ---------------------------------------------------------------------------

    def _skip(self, run: RunRecord, progress: Progress, path: str, reason: str) -> None:
        record = progress.records[path]
        if record.state.terminal:
            return
        self._move(run, record, TaskState.SKIPPED, reason)

    def _skip_subtree(
        self,
        run: RunRecord,
        progress: Progress,
        path: str,
        task: PlannedTask,
        reason: str,
    ) -> None:
        """A false condition: the instance and the tasks it contains are SKIPPED."""
        self._skip(run, progress, path, reason)
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
            self._skip_subtree(run, progress, child_path, child, f"inside {path!r}: {reason}")

    def _settle_leftovers(self, run: RunRecord, progress: Progress) -> None:
        """Nothing runs any more: whatever has not started never will."""
        for path in list(progress.pending):
            progress.pending.remove(path)
            self._skip(run, progress, path, STOPPED + (progress.failure or "run stopped"))
        self._close_groups(run, progress)
        for record in progress.records.values():
            if not record.state.terminal and record.state is not TaskState.RUNNING:
                self._move(run, record, TaskState.SKIPPED, "not reached")
