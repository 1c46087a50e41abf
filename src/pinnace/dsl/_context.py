"""The pipeline being defined: the registry that tasks join while a pipeline function runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CompileError
from ._structures import rename_for_k8s, unique_name

if TYPE_CHECKING:
    from ._task import PipelineTask


class TasksGroup:
    """A DAG of tasks and sub-groups. The root group is the pipeline itself.

    Control flow (conditions, loops, exit handlers) will add sub-groups here;
    a task always belongs to exactly one group.
    """

    def __init__(self, name: str, kind: str = "pipeline") -> None:
        self.name = name
        self.kind = kind
        self.tasks: list[PipelineTask] = []
        self.groups: list[TasksGroup] = []


class PipelineContext:
    """Collects the tasks created while a pipeline function runs at compile time."""

    _active: PipelineContext | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: dict[str, PipelineTask] = {}
        self.root = TasksGroup(name)
        self._group_stack = [self.root]

    @classmethod
    def active(cls) -> PipelineContext | None:
        return cls._active

    def __enter__(self) -> PipelineContext:
        if PipelineContext._active is not None:
            raise CompileError(
                "a pipeline function was called while another pipeline was being defined",
                pipeline=self.name,
                hint="nested pipelines are not supported yet; call components only",
            )
        PipelineContext._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        PipelineContext._active = None

    def add_task(self, task: PipelineTask) -> str:
        """Register a task; returns its unique name (`train`, `train-2`, ...)."""
        name = unique_name(rename_for_k8s(task.component_spec.name), self.tasks)
        if name == "":
            name = unique_name("task", self.tasks)
        self.tasks[name] = task
        group = self._group_stack[-1]
        task.parent_group = group
        group.tasks.append(task)
        return name
