"""Loop items of `dsl.ParallelFor`, `dsl.Collected` fan-in and `dsl.OneOf` (kfp's names)."""

from __future__ import annotations

import re
from typing import Any

from ..errors import CompileError
from ._channel import PipelineArtifactChannel, PipelineChannel, PipelineParameterChannel
from ._structures import ir_parameter_type

LOOP_ITEM_NAME_BASE = "loop-item"
LOOP_ITEM_PARAM_NAME_BASE = "loop-item-param"
_SUBVAR = re.compile(r"^[a-zA-Z_][0-9a-zA-Z_]*$")


def _item_type(type_name: Any) -> str | None:
    """`List[int]` -> `int`; None when the list type names no item type."""
    match = re.match(r"(typing\.)?(?:\w+)(?:\[(?P<item_type>.+)\])", str(type_name))
    return match["item_type"].strip() if match else None


def _value_type(type_name: Any) -> str | None:
    """`Dict[str, int]` -> `int`."""
    match = re.match(r"(typing\.)?(?:\w+)(?:\[\s*(?:\w+)\s*,\s*(?P<value_type>.+)\])", type_name)
    return match["value_type"].strip() if match else None


def _first_element_type(items: list) -> str:
    first = items[0]
    if isinstance(first, dict):
        key_type = type(next(iter(first.keys()))).__name__
        value_type = type(next(iter(first.values()))).__name__
        return f"Dict[{key_type}, {value_type}]"
    return type(first).__name__


class LoopParameterArgument(PipelineParameterChannel):
    """The item of a ParallelFor over parameters; `item.field` reads a dict item's key."""

    def __init__(self, items: Any, name: str, channel_type: Any, task_name: str | None = None):
        super().__init__(name, channel_type, task_name)
        if isinstance(items, tuple):
            items = list(items)
        self.items_or_pipeline_channel = items
        self.is_with_items_loop_argument = not isinstance(items, PipelineParameterChannel)
        self._subvars: dict[str, LoopArgumentVariable] = {}
        if isinstance(items, list) and isinstance(items[0], dict):
            for key in items[0]:
                self._subvars[key] = LoopArgumentVariable(self, key)

    def __getattr__(self, name: str) -> LoopArgumentVariable:
        if name.startswith("__") or name == "_subvars":
            raise AttributeError(name)
        return self._subvars.setdefault(name, LoopArgumentVariable(self, name))

    @classmethod
    def from_pipeline_channel(cls, channel: PipelineParameterChannel) -> LoopParameterArgument:
        if not isinstance(channel, LoopArgumentVariable) and (
            ir_parameter_type(channel.channel_type) != "LIST"
        ):
            raise CompileError(
                "Cannot iterate over a single parameter using `dsl.ParallelFor`. "
                "Expected a list of parameters as argument to `items`.",
                hint=f"{channel.full_name!r} is a {channel.channel_type}; loop over a list",
            )
        return cls(
            channel,
            f"{channel.name}-{LOOP_ITEM_NAME_BASE}",
            _item_type(channel.channel_type) or "String",
            channel.task_name,
        )

    @classmethod
    def from_raw_items(cls, items: Any, code: str) -> LoopParameterArgument:
        if not isinstance(items, (list, tuple)):
            raise CompileError(
                f"dsl.ParallelFor expects a list, a list parameter or a list output; "
                f"got {type(items).__name__}",
                hint="pass a list constant or a channel of type List",
            )
        if len(items) == 0:
            raise CompileError(
                "Got an empty item list for loop argument.",
                hint="loop over at least one item",
            )
        return cls(items, f"{LOOP_ITEM_PARAM_NAME_BASE}-{code}", _first_element_type(list(items)))


class LoopArtifactArgument(PipelineArtifactChannel):
    """The item of a ParallelFor over a list of artifacts."""

    def __init__(self, items: PipelineArtifactChannel, name: str, channel_type: Any, task_name):
        super().__init__(name, channel_type, task_name, is_artifact_list=False)
        self.items_or_pipeline_channel = items
        self.is_with_items_loop_argument = False

    @classmethod
    def from_pipeline_channel(cls, channel: PipelineArtifactChannel) -> LoopArtifactArgument:
        if not channel.is_artifact_list:
            raise CompileError(
                "Cannot iterate over a single artifact using `dsl.ParallelFor`. "
                "Expected a list of artifacts as argument to `items`.",
                hint="loop over an output typed List[Artifact] or a dsl.Collected list",
            )
        name = f"{channel.name}-{LOOP_ITEM_NAME_BASE}"
        return cls(channel, name, channel.channel_type, channel.task_name)


class LoopArgumentVariable(PipelineParameterChannel):
    """One key of a dict loop item: `item.a` in `ParallelFor([{"a": 1}]) as item`."""

    def __init__(self, loop_argument: LoopParameterArgument, subvar_name: str) -> None:
        if not _SUBVAR.match(subvar_name):
            raise CompileError(
                f"loop item field {subvar_name!r} is not a legal Python name",
                hint="use dict keys that are valid identifiers",
            )
        self.subvar_name = subvar_name
        self.loop_argument = loop_argument
        super().__init__(
            f"{loop_argument.name}-subvar-{subvar_name}",
            _value_type(str(loop_argument.channel_type)) or "String",
            loop_argument.task_name,
        )

    @property
    def items_or_pipeline_channel(self) -> Any:
        return self.loop_argument.items_or_pipeline_channel

    @property
    def is_with_items_loop_argument(self) -> bool:
        return self.loop_argument.is_with_items_loop_argument


LOOP_CHANNELS = (LoopParameterArgument, LoopArtifactArgument, LoopArgumentVariable)


class Collected(PipelineChannel):
    """All values of a task output inside a ParallelFor, as a list, for a task after it.

    Example::

        with dsl.ParallelFor([1, 2, 3]) as x:
            t = double(n=x)
        total(numbers=dsl.Collected(t.output))
    """

    def __init__(self, output: PipelineChannel) -> None:
        if not isinstance(output, PipelineChannel):
            raise CompileError(
                f"dsl.Collected expects a task output, got {type(output).__name__}",
                hint="pass task.output or task.outputs['name']",
            )
        if output.is_oneof:
            raise CompileError(
                "dsl.OneOf cannot be used inside of dsl.Collected.", hint="collect a task output"
            )
        self.output = output
        self.is_artifact_channel = output.is_artifact
        self.is_artifact = output.is_artifact
        channel_type = output.channel_type if output.is_artifact else "LIST"
        super().__init__(output.name, channel_type, output.task_name, output.is_artifact)
