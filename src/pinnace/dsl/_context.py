"""The pipeline being defined: the registry that tasks and groups join while a pipeline
function runs (kfp's `pipeline_context.Pipeline`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CompileError
from ._structures import rename_for_k8s

if TYPE_CHECKING:
    from ._task import PipelineTask

PIPELINE = "pipeline"
CONDITION = "condition"
CONDITION_BRANCHES = "condition-branches"
FOR_LOOP = "for-loop"
EXIT_HANDLER = "exit-handler"


class TasksGroup:
    """A DAG of tasks and sub-groups: the pipeline itself, a condition, a loop or an
    exit handler. Each task belongs to exactly one group (exit tasks to none)."""

    group_type = PIPELINE

    def __init__(self, name: str | None = None, is_root: bool = False) -> None:
        self.name = name or ""
        self.display_name = name
        self.tasks: list[PipelineTask] = []
        self.groups: list[TasksGroup] = []
        self.is_root = is_root
        self.parent_task_group: TasksGroup | None = None

    def __enter__(self) -> Any:
        context = PipelineContext.require(f"dsl.{type(self).__name__}")
        self.make_name_unique(context)
        context.push_group(self)
        return self

    def __exit__(self, *exc: object) -> None:
        PipelineContext.require(f"dsl.{type(self).__name__}").pop_group()

    def make_name_unique(self, context: PipelineContext) -> None:
        self.name = f"{self.group_type}-{context.next_group_id()}"

    def remove_task_recursive(self, task: PipelineTask) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        for group in self.groups:
            group.remove_task_recursive(task)


class PipelineContext:
    """Collects the tasks and groups created while a pipeline function runs."""

    _active: PipelineContext | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: dict[str, PipelineTask] = {}
        self.root = TasksGroup(name, is_root=True)
        self.groups: list[TasksGroup] = [self.root]
        self._group_id = 0
        self._saved: PipelineContext | None = None
        #: name -> the lowest suffix that may still be free (tasks are never unregistered)
        self._suffixes: dict[str, int] = {}

    @classmethod
    def active(cls) -> PipelineContext | None:
        return cls._active

    @classmethod
    def require(cls, what: str) -> PipelineContext:
        if cls._active is None:
            raise CompileError(
                f"{what} was used outside a pipeline function",
                hint="use control flow only inside a @dsl.pipeline function",
            )
        return cls._active

    def __enter__(self) -> PipelineContext:
        # A pipeline used as a component is built the first time it is called, which
        # can be while an outer pipeline is being defined: park the outer one.
        self._saved = PipelineContext._active
        PipelineContext._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        PipelineContext._active = self._saved
        self._saved = None

    def next_group_id(self) -> str:
        self._group_id += 1
        return str(self._group_id)

    def add_task(self, task: PipelineTask, add_to_group: bool = True) -> str:
        """Register a task; returns its unique name (`train`, `train-2`, ...)."""
        name = self._unique_task_name(rename_for_k8s(task.component_spec.name))
        if name == "":
            name = self._unique_task_name("task")
        self.tasks[name] = task
        if add_to_group:
            task.parent_task_group = self.groups[-1]
            self.groups[-1].tasks.append(task)
        return name

    def _unique_task_name(self, name: str) -> str:
        """What `unique_name(name, self.tasks)` returns, without rescanning the suffixes
        taken already: the 1,000th task of a name would try `name-2` .. `name-1000` first."""
        if name not in self.tasks:
            return name
        index = self._suffixes.get(name, 2)
        while f"{name}-{index}" in self.tasks:
            index += 1
        self._suffixes[name] = index
        return f"{name}-{index}"

    def push_group(self, group: TasksGroup) -> None:
        group.parent_task_group = self.groups[-1]
        self.groups[-1].groups.append(group)
        self.groups.append(group)

    def pop_group(self) -> None:
        del self.groups[-1]

    def last_group(self) -> TasksGroup | None:
        """The last group added at the current nesting level."""
        groups = self.groups[-1].groups
        return groups[-1] if groups else None

    def remove_task_from_groups(self, task: PipelineTask) -> None:
        for group in self.groups:
            group.remove_task_recursive(task)

    def all_groups(self) -> list[TasksGroup]:
        """Every group, parents first (the root included)."""
        found: list[TasksGroup] = []

        def visit(group: TasksGroup) -> None:
            found.append(group)
            for child in group.groups:
                visit(child)

        visit(self.root)
        return found

    def task_or_group(self, name: str) -> Any:
        if name in self.tasks:
            return self.tasks[name]
        for group in self.all_groups()[1:]:
            if group.name == name:
                return group
        raise CompileError(
            f"no task or group named {name!r} in pipeline {self.name!r}",
            pipeline=self.name,
            hint="pass outputs only of tasks created in the same pipeline",
        )
