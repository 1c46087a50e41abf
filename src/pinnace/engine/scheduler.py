"""The scheduler: which pending instances start, wait or never start, and starting them.

An instance is ready when its upstream tasks succeeded or were skipped (or, for exit tasks
and `ignore_upstream_failure()`, when they are terminal) and a slot is free. After a
failure nothing new starts except those; retries already due still run (as an Argo
retryStrategy would).
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import PinnaceError
from ..executors.base import Executor
from ..model.state import TaskState
from ..stores.base import ArtifactStore, RunRecord
from .cel import evaluate_condition
from .groups import final_status, loop_items, parallelism_limit
from .inputs import BoundInputs, bind_inputs, runtime_values
from .launcher import TaskLauncher
from .nodes import Node, NodeKind, Progress, Verdict, in_exit_subtree
from .planner import Planner
from .settler import Settler


class Scheduler:
    """Advances a run: starts what can start, skips what never will, closes groups."""

    def __init__(
        self,
        executor: Executor,
        artifacts: ArtifactStore,
        planner: Planner,
        launcher: TaskLauncher,
        settler: Settler,
    ) -> None:
        self.executor = executor
        self.artifacts = artifacts
        self.planner = planner
        self.launcher = launcher
        self.settler = settler

    def advance(self, run: RunRecord, progress: Progress) -> None:
        """Start what can start, skip what never will, close finished groups; until stable."""
        changed = True
        capacity = self.executor.capacity
        while changed:
            changed = self._start_due_retries(run, progress)
            for path in list(progress.pending):
                # With every slot taken and no failure, a container task can only wait: skip
                # its readiness (a wide fan-out would re-check every waiting task each time),
                # and stop looking when only container tasks are left.
                full = progress.busy >= capacity and not progress.failure
                if full and not progress.pending_others:
                    break
                node = progress.nodes[path]
                if full and node.kind is NodeKind.CONTAINER:
                    continue
                verdict = self.readiness(progress, node)
                if verdict is Verdict.WAIT:
                    continue
                progress.take_pending(path)
                changed = True
                if verdict is Verdict.SKIP:
                    self.settler.stop(run, progress, path)
                else:
                    self._start_node(run, progress, node)
            changed = self.settler.close_groups(run, progress) or changed

    def next_delay(self, progress: Progress) -> float | None:
        """How long the driver may wait before a delayed retry is due (None: no limit)."""
        # With every slot taken nothing can start before a running task ends: wait for it
        # (a due retry would otherwise make this a zero timeout, a busy loop).
        if not progress.delayed or progress.busy >= self.executor.capacity:
            return None
        return max(0.0, min(t for t, _ in progress.delayed) - time.monotonic())

    def readiness(self, progress: Progress, node: Node) -> Verdict:
        """GO, WAIT, or SKIP (it can never start: a task failed)."""
        # Inside an exit task (a pipeline used as one) the run's failure does not stop tasks.
        failed = bool(progress.failure) and not in_exit_subtree(progress, node)
        if node.kind is NodeKind.ITERATION:
            if failed:
                return Verdict.SKIP
            loop = progress.nodes[node.parent or ""]
            limit = parallelism_limit(loop.task)
            active = sum(progress.records[c].state is TaskState.RUNNING for c in loop.children)
            return Verdict.WAIT if limit and active >= limit else Verdict.GO
        # A task waiting on an unfinished upstream task waits as long as that one is not
        # finished: checked first, in one lookup (a long chain re-checks every pending task
        # at each step).
        blocker = progress.blockers.get(node.path)
        if (
            blocker is not None
            and not progress.failure
            and not progress.records[blocker].state.terminal
        ):
            return Verdict.WAIT
        paths = [node.sibling(u) for u in node.task.upstream]
        upstream = [progress.records[p].state for p in paths]
        for path, state in zip(paths, upstream, strict=True):
            if not state.terminal:
                progress.blockers[node.path] = path
                break
        if node.task.runs_after_failure:
            go = all(s.terminal for s in upstream)
        elif failed:
            return Verdict.SKIP
        else:
            go = all(s.ok or s is TaskState.SKIPPED for s in upstream)
        if go and node.kind is NodeKind.CONTAINER and progress.busy >= self.executor.capacity:
            return Verdict.WAIT
        return Verdict.GO if go else Verdict.WAIT

    def _start_due_retries(self, run: RunRecord, progress: Progress) -> bool:
        started = False
        for not_before, path in list(progress.delayed):
            if not_before <= time.monotonic() and progress.busy < self.executor.capacity:
                progress.delayed.remove((not_before, path))
                self.launcher.start_container(
                    run,
                    progress,
                    progress.nodes[path],
                    BoundInputs(**progress.records[path].inputs),
                    retry=True,
                )
                started = True
        return started

    def _start_node(self, run: RunRecord, progress: Progress, node: Node) -> None:
        items: list[Any] = []
        try:
            inputs = node.inputs or self._bind(run, progress, node)
            if (
                node.task.condition
                and node.iteration is None
                and not evaluate_condition(node.task.condition, inputs.parameters, task=node.path)
            ):
                self.settler.skip_subtree(
                    run,
                    progress,
                    node.path,
                    node.task,
                    f"condition {node.task.condition!r} is false",
                )
                return
            if node.kind is NodeKind.LOOP:
                items = loop_items(node.task, inputs, node.path)
        except PinnaceError as exc:
            self.settler.fail(run, progress, node.path, str(exc))
            return
        if node.kind is NodeKind.CONTAINER:
            self.launcher.start_container(run, progress, node, inputs)
        elif node.kind is NodeKind.IMPORTER:
            self.launcher.run_importer(run, progress, node, inputs)
        elif node.kind is NodeKind.LOOP:
            self.planner.expand_loop(run, progress, node, inputs, items)
        else:
            self.planner.expand(run, progress, node, inputs)

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
                # dsl.PipelineConfig(workspace=...): one folder shared by the run's tasks
                workspace_path=str(self.launcher.work_dir / run.run_id / "workspace"),
            ),
        )
