"""The planner: makes task instances known to a drive, and expands DAG and loop instances.

A DAG instance is expanded when it starts: its tasks become instances with the DAG's inputs
as their scope; a loop becomes one iteration instance per item (see pinnace.engine.nodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model.state import TaskState
from ..stores.base import MetadataStore, RunRecord, TaskRecord
from .groups import iteration_inputs
from .inputs import ArtifactDict, BoundInputs, TaskOutputs
from .nodes import Node, Progress, iteration_path
from .plan import PlannedTask
from .settler import Settler


class Planner:
    """Adds instances (reusing finished records on resume) and expands groups."""

    def __init__(self, metadata: MetadataStore, settler: Settler) -> None:
        self.metadata = metadata
        self.settler = settler

    def add_node(
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
        if node.is_group:
            progress.groups[path] = None
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
        progress.add_pending(path)
        return node

    def expand(self, run: RunRecord, progress: Progress, node: Node, inputs: BoundInputs) -> None:
        """A DAG instance starts: its tasks become pending instances in its scope."""
        self.settler.mark_running(run, progress.records[node.path], inputs)
        for child in node.task.children:
            added = self.add_node(
                run,
                progress,
                child,
                prefix=node.path + "/",
                parent=node.path,
                parameters=inputs.parameters,
                artifacts=inputs.artifacts,
            )
            node.children.append(added.path)

    def expand_loop(
        self,
        run: RunRecord,
        progress: Progress,
        node: Node,
        inputs: BoundInputs,
        items: list[Any],
    ) -> None:
        """A loop instance starts: one iteration instance per item."""
        self.settler.mark_running(run, progress.records[node.path], inputs)
        for index, item in enumerate(items):
            bound = iteration_inputs(node.task, inputs, item)
            added = self.add_node(
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
