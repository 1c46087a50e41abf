"""Channels: compile-time stand-ins for pipeline parameters and task outputs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any

from ._context import PipelineContext
from ._structures import is_parameter_type

if TYPE_CHECKING:
    from ._task import PipelineTask

# Same serialized form as kfp, so channels inside f-strings survive a round trip.
_TEMPLATE = "{{channel:task=%s;name=%s;type=%s;}}"
_REGEX = r'{{channel:task=([\w\s_-]*);name=([\w\s_-]+);type=([\w\s{}":_-]*);}}'


@dataclasses.dataclass
class ConditionOperation:
    """`left <operator> right`, made by comparing a channel (`task.output == "a"`)."""

    operator: str
    left_operand: Any
    right_operand: Any
    negate: bool = False


class PipelineChannel:
    """A value known only at run time: a pipeline parameter or a task output.

    Usable as a task argument, and inside strings (`f"--n={n}"`): the compiler
    turns the serialized form back into an input of the consuming task.
    """

    is_artifact = False
    #: True on dsl.OneOf channels (which dsl.Collected and the compiler treat apart)
    is_oneof = False

    def __init__(
        self,
        name: str,
        channel_type: Any,
        task_name: str | None = None,
        is_artifact_list: bool = False,
        task: PipelineTask | None = None,
    ) -> None:
        self.name = name
        self.channel_type = channel_type
        self.task_name = task_name or None
        self.is_artifact_list = is_artifact_list
        # The pipeline being defined, to resolve `task` by name as kfp does (a channel's
        # producer may be renamed to a group while the compiler surfaces outputs).
        self.pipeline = PipelineContext.active()

    @property
    def task(self) -> Any:
        """The task (or group) producing this channel; None for a pipeline parameter."""
        if self.task_name is None or self.pipeline is None:
            return None
        return self.pipeline.task_or_group(self.task_name)

    @property
    def full_name(self) -> str:
        return f"{self.task_name}-{self.name}" if self.task_name else self.name

    @property
    def pattern(self) -> str:
        channel_type = self.channel_type or ""
        if isinstance(channel_type, dict):
            channel_type = json.dumps(channel_type)
        return _TEMPLATE % (self.task_name or "", self.name, channel_type)

    def __str__(self) -> str:
        return self.pattern

    __repr__ = __str__

    def __hash__(self) -> int:
        return hash(self.pattern)

    # Comparisons build conditions for dsl.If, as in kfp; sets and dicts still dedupe
    # channels by pattern because a ConditionOperation is truthy.
    def __eq__(self, other: object) -> ConditionOperation:  # type: ignore[override]
        return ConditionOperation("==", self, other)

    def __ne__(self, other: object) -> ConditionOperation:  # type: ignore[override]
        return ConditionOperation("!=", self, other)

    def __lt__(self, other: object) -> ConditionOperation:
        return ConditionOperation("<", self, other)

    def __le__(self, other: object) -> ConditionOperation:
        return ConditionOperation("<=", self, other)

    def __gt__(self, other: object) -> ConditionOperation:
        return ConditionOperation(">", self, other)

    def __ge__(self, other: object) -> ConditionOperation:
        return ConditionOperation(">=", self, other)


class PipelineParameterChannel(PipelineChannel):
    """A parameter (str, int, float, bool, list, dict) flowing between tasks."""


class PipelineArtifactChannel(PipelineChannel):
    """An artifact (file or folder) flowing between tasks."""

    is_artifact = True


def create_channel(
    name: str,
    channel_type: Any,
    task_name: str | None = None,
    is_artifact_list: bool = False,
    task: PipelineTask | None = None,
) -> PipelineChannel:
    """A parameter or artifact channel, chosen by the type."""
    if is_parameter_type(channel_type):
        return PipelineParameterChannel(name, channel_type, task_name, task=task)
    return PipelineArtifactChannel(name, channel_type, task_name, is_artifact_list, task)


def channels_in_string(payload: str) -> list[PipelineChannel]:
    """The channels serialized inside a string, without duplicates, in order of appearance."""
    found: dict[str, PipelineChannel] = {}
    for task_name, name, channel_type in re.findall(_REGEX, payload):
        with contextlib.suppress(json.JSONDecodeError):
            channel_type = json.loads(channel_type)
        channel = create_channel(name, channel_type, task_name or None)
        found.setdefault(channel.pattern, channel)
    return list(found.values())


def channels_in(payload: Any) -> list[PipelineChannel]:
    """Every channel inside a value: a channel itself, or nested in str/list/tuple/dict."""
    if isinstance(payload, PipelineChannel):
        return [payload]
    if isinstance(payload, str):
        return channels_in_string(payload)
    items: list[Any] = []
    if isinstance(payload, (list, tuple)):
        items = list(payload)
    elif isinstance(payload, dict):
        items = [part for pair in payload.items() for part in pair]
    found: dict[str, PipelineChannel] = {}
    for item in items:
        for channel in channels_in(item):
            found.setdefault(channel.pattern, channel)
    return list(found.values())


def replace_in(payload: Any, old: str, new: str) -> Any:
    """Replace a serialized channel inside a (nested) constant."""
    if isinstance(payload, str):
        return payload.replace(old, new)
    if isinstance(payload, list):
        return [replace_in(item, old, new) for item in payload]
    if isinstance(payload, dict):
        return {replace_in(k, old, new): replace_in(v, old, new) for k, v in payload.items()}
    return payload
