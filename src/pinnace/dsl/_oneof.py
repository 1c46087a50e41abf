"""`dsl.OneOf`: the output of whichever If/Elif/Else branch ran, as one channel."""

from __future__ import annotations

from typing import Any

from ..errors import CompileError
from ._channel import _TEMPLATE, PipelineArtifactChannel, PipelineChannel, PipelineParameterChannel
from ._control_flow import ConditionBranches, Else
from ._loops import Collected


class OneOfMixin(PipelineChannel):
    """What OneOf parameters and artifacts share: the ConditionBranches group they
    surface from, and a name `pipelinechannel--condition-branches-N-oneof-M`."""

    channels: list[PipelineChannel]
    condition_branches_group: Any
    is_oneof = True

    def _setup(self, channels: list[PipelineChannel]) -> str:
        if any(isinstance(c, Collected) for c in channels):
            raise CompileError("dsl.Collected cannot be used inside of dsl.OneOf.", hint="")
        if any(c.is_oneof for c in channels):
            raise CompileError("dsl.OneOf cannot be used inside of another dsl.OneOf.", hint="")
        first_kind = channels[0].is_artifact
        if any(c.is_artifact != first_kind for c in channels):
            raise CompileError(
                "Task outputs passed to dsl.OneOf must be the same type. Found a mix of "
                "parameters and artifacts passed to dsl.OneOf.",
                hint="pass only parameters or only artifacts",
            )
        task = channels[0].task
        parent = getattr(task, "parent_task_group", None)
        group = getattr(parent, "parent_task_group", None)
        if not isinstance(group, ConditionBranches):
            raise CompileError(
                "dsl.OneOf takes outputs of tasks directly inside dsl.If/Elif/Else branches",
                task=channels[0].task_name,
                hint="call dsl.OneOf after the If/Elif/Else blocks, with one output per branch",
            )
        self.condition_branches_group = group
        if not isinstance(group.groups[-1], Else):
            raise CompileError(
                "dsl.OneOf must include an output from a task in a dsl.Else group to ensure "
                "at least one output is available at runtime.",
                hint="add a dsl.Else branch that produces the output too",
            )
        return f"pipelinechannel--{group.name}-oneof-{group.next_oneof_id()}"

    def _check_same_type(self, channels: list[PipelineChannel]) -> None:
        first = channels[0]
        for index, channel in enumerate(channels[1:], start=1):
            if (channel.channel_type, channel.is_artifact_list) != (
                first.channel_type,
                first.is_artifact_list,
            ):
                raise CompileError(
                    "Task outputs passed to dsl.OneOf must be the same type. Got two channels "
                    f"with different types: {first.channel_type} at index 0 and "
                    f"{channel.channel_type} at index {index}.",
                    hint="make every branch produce the same type",
                )

    def __str__(self) -> str:
        raise CompileError(
            "dsl.OneOf does not support string interpolation.",
            hint="pass the OneOf itself as an argument",
        )

    @property
    def pattern(self) -> str:
        return _TEMPLATE % (self.task_name or "", self.name, self.channel_type or "")

    def __hash__(self) -> int:
        return hash(self.pattern)


class OneOfParameter(PipelineParameterChannel, OneOfMixin):
    """A OneOf of parameter outputs."""

    def __init__(self, channels: list[PipelineChannel]) -> None:
        self.channels = channels
        name = self._setup(channels)
        super().__init__(name, channels[0].channel_type)
        self.task_name = self.condition_branches_group.name
        self._check_same_type(channels)


class OneOfArtifact(PipelineArtifactChannel, OneOfMixin):
    """A OneOf of artifact outputs."""

    def __init__(self, channels: list[PipelineChannel]) -> None:
        self.channels = channels
        name = self._setup(channels)
        super().__init__(name, channels[0].channel_type, None, channels[0].is_artifact_list)
        self.task_name = self.condition_branches_group.name
        self._check_same_type(channels)


def OneOf(*channels: PipelineChannel) -> OneOfMixin:
    """The output of whichever condition branch ran.

    Example::

        with dsl.If(flip.output == "heads"):
            a = say(text="heads")
        with dsl.Else():
            b = say(text="tails")
        show(text=dsl.OneOf(a.output, b.output))
    """
    if not channels or not isinstance(channels[0], PipelineChannel):
        raise CompileError(
            "dsl.OneOf expects task outputs", hint="pass one output per condition branch"
        )
    if channels[0].is_artifact:
        return OneOfArtifact(list(channels))
    return OneOfParameter(list(channels))
