"""Control flow groups: `dsl.If`/`Elif`/`Else`/`Condition`, `dsl.ParallelFor`, `dsl.ExitHandler`."""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import CompileError
from . import _context as ctx
from ._channel import ConditionOperation, PipelineArtifactChannel, PipelineParameterChannel
from ._context import PipelineContext, TasksGroup
from ._loops import LoopArtifactArgument, LoopParameterArgument

if TYPE_CHECKING:
    from ._task import PipelineTask


class ExitHandler(TasksGroup):
    """Run `exit_task` after the tasks inside the block, whether they succeeded or not.

    Example::

        with dsl.ExitHandler(notify(status=...)):
            train()
    """

    group_type = ctx.EXIT_HANDLER

    def __init__(self, exit_task: PipelineTask, name: str | None = None) -> None:
        super().__init__(name)
        self.exit_task = exit_task
        if _has_upstream(exit_task):
            raise CompileError(
                "exit_task cannot depend on any other tasks",
                task=exit_task.name,
                hint="pass only constants and pipeline parameters to the exit task",
            )
        PipelineContext.require("dsl.ExitHandler").remove_task_from_groups(exit_task)
        exit_task.is_exit_handler = True


def _has_upstream(task: PipelineTask) -> bool:
    if task.dependent_tasks:
        return True
    return any(
        isinstance(value, PipelineParameterChannel) and value.task is not None
        for value in task.inputs.values()
    )


class ConditionBranches(TasksGroup):
    """The hidden group holding an If and its Elif/Else siblings (for OneOf)."""

    group_type = ctx.CONDITION_BRANCHES

    def __init__(self) -> None:
        super().__init__(None)
        self._oneof_id = 0

    def next_oneof_id(self) -> int:
        self._oneof_id += 1
        return self._oneof_id


class _ConditionBase(TasksGroup):
    group_type = ctx.CONDITION

    def __init__(self, conditions: list[ConditionOperation], name: str | None = None) -> None:
        super().__init__(name)
        self.conditions = conditions
        self.negated_upstream: list[ConditionOperation] = []


def _check_condition(condition: Any, kind: str) -> None:
    if isinstance(condition, bool) or not isinstance(condition, ConditionOperation):
        raise CompileError(
            f"dsl.{kind} got the constant {condition!r} as a condition",
            hint="compare a task output or a pipeline parameter, e.g. "
            "dsl.If(task.output == 'heads'); a constant evaluates immediately",
        )


def _negated(condition: ConditionOperation) -> ConditionOperation:
    copied = copy.copy(condition)
    copied.negate = True
    return copied


class If(_ConditionBase):
    """Run the block only when the condition holds at run time.

    Example::

        with dsl.If(flip.output == "heads"):
            heads()
    """

    def __init__(self, condition: Any, name: str | None = None) -> None:
        _check_condition(condition, type(self).__name__)
        super().__init__([condition], name)
        self.negated_upstream = [_negated(condition)]


class Condition(If):
    """Deprecated alias of `dsl.If` (kfp warns the same way)."""

    def __enter__(self) -> Any:
        entered = super().__enter__()
        warnings.warn(
            "dsl.Condition is deprecated. Please use dsl.If instead.",
            category=DeprecationWarning,
            stacklevel=2,
        )
        return entered


def _previous_condition(kind: str) -> _ConditionBase:
    previous = PipelineContext.require(f"dsl.{kind}").last_group()
    if kind == "Else" and isinstance(previous, ConditionBranches):
        raise CompileError(
            "dsl.Else cannot follow another dsl.Else",
            hint="use dsl.Else once, after a dsl.If or dsl.Elif",
        )
    if not isinstance(previous, (If, Elif)):
        raise CompileError(
            f"dsl.{kind} can only be used following an upstream dsl.If or dsl.Elif",
            hint=f"place the `with dsl.{kind}` block right after a `with dsl.If` block",
        )
    return previous


def _enter_branch(group: _ConditionBase) -> Any:
    context = PipelineContext.require(f"dsl.{type(group).__name__}")
    _wrap_in_branches(context)
    group.make_name_unique(context)
    context.push_group(group)
    return group


def _wrap_in_branches(context: PipelineContext) -> None:
    """Move the previous If into a ConditionBranches group (once per If chain); group
    ids are swapped so the If keeps the lower number, exactly as kfp numbers them."""
    if isinstance(context.last_group(), Elif):
        return
    branches = ConditionBranches()
    branches.make_name_unique(context)
    previous = context.groups[-1].groups.pop()
    branch_base, branch_id = branches.name.rsplit("-", 1)
    previous_base, previous_id = previous.name.split("-")
    previous.name = f"{previous_base}-{branch_id}"
    branches.name = f"{branch_base}-{previous_id}"
    context.push_group(branches)
    context.push_group(previous)
    context.pop_group()


class Elif(_ConditionBase):
    """Run the block when the previous conditions failed and this one holds."""

    def __init__(self, condition: Any, name: str | None = None) -> None:
        previous = _previous_condition("Elif")
        _check_condition(condition, "Elif")
        conditions = [copy.copy(c) for c in previous.negated_upstream] + [condition]
        super().__init__(conditions, name)
        self.negated_upstream = [copy.copy(c) for c in previous.negated_upstream] + [
            _negated(condition)
        ]

    def __enter__(self) -> Any:
        return _enter_branch(self)


class Else(_ConditionBase):
    """Run the block when none of the previous If/Elif conditions held."""

    def __init__(self, name: str | None = None) -> None:
        previous = _previous_condition("Else")
        super().__init__(previous.negated_upstream, name)

    def __enter__(self) -> Any:
        return _enter_branch(self)

    def __exit__(self, *exc: object) -> None:
        context = PipelineContext.require("dsl.Else")
        context.pop_group()
        context.pop_group()


class ParallelFor(TasksGroup):
    """Run the block once per item of a list (a constant, a parameter or an output).

    Example::

        with dsl.ParallelFor([{"a": 1}, {"a": 2}], parallelism=1) as item:
            show(n=item.a)
    """

    group_type = ctx.FOR_LOOP

    def __init__(self, items: Any, name: str | None = None, parallelism: int | None = None):
        parallelism = parallelism or 0
        if parallelism < 0:
            raise CompileError(
                f"ParallelFor parallelism must be >= 0. Got: {parallelism}.",
                hint="use 0 (unlimited) or a positive number",
            )
        super().__init__(name)
        self.items_is_pipeline_channel = True
        self.loop_argument: Any
        if isinstance(items, PipelineParameterChannel):
            self.loop_argument = LoopParameterArgument.from_pipeline_channel(items)
        elif isinstance(items, PipelineArtifactChannel):
            self.loop_argument = LoopArtifactArgument.from_pipeline_channel(items)
        else:
            context = PipelineContext.require("dsl.ParallelFor")
            self.loop_argument = LoopParameterArgument.from_raw_items(
                items, context.next_group_id()
            )
            self.items_is_pipeline_channel = False
        self.parallelism_limit = parallelism

    def __enter__(self) -> Any:
        super().__enter__()
        return self.loop_argument
