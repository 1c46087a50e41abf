"""Graph analysis of a pipeline's groups: ancestors, the inputs and outputs each group
must surface, and the dependencies between siblings (kfp's compiler_utils rules)."""

from __future__ import annotations

import collections
import copy
from typing import Any

from ..dsl.graph import (
    LOOP_CHANNELS,
    Collected,
    ConditionBase,
    ExitHandler,
    OneOfMixin,
    ParallelFor,
    PipelineArtifactChannel,
    PipelineChannel,
    PipelineContext,
    PipelineParameterChannel,
    TasksGroup,
)
from ..errors import CompileError

Inputs = dict[str, dict[tuple[str, Any], PipelineChannel]]


def injected_name(channel_or_name: PipelineChannel | str) -> str:
    """The name of an input the compiler adds to carry a channel into a sub-DAG."""
    name = (
        channel_or_name.full_name
        if isinstance(channel_or_name, PipelineChannel)
        else channel_or_name
    )
    return "pipelinechannel--" + name


class GroupGraph:
    """Ancestor chains of every task and group, from the root down to itself."""

    def __init__(self, context: PipelineContext) -> None:
        self.context = context
        self.all_groups = context.all_groups()
        self.groups = {g.name: g for g in self.all_groups}
        self.task_parents: dict[str, list[str]] = {}
        self.group_parents: dict[str, list[str]] = {}
        self._walk([context.root])
        self.loops = {n: g for n, g in self.groups.items() if isinstance(g, ParallelFor)}

    def _walk(self, current: list[TasksGroup]) -> None:
        here = current[-1]
        for group in here.groups:
            self.group_parents[group.name] = [g.name for g in current] + [group.name]
            self._walk([*current, group])
        for task in here.tasks:
            self.task_parents[task.name] = [g.name for g in current] + [task.name]

    def chain(self, name: str) -> list[str]:
        if name in self.task_parents:
            return self.task_parents[name]
        if name in self.group_parents:
            return self.group_parents[name]
        raise CompileError(
            f"{name!r} is not part of the pipeline graph",
            pipeline=self.context.name,
            hint="an exit task's output cannot be consumed; a loop item or condition "
            "output cannot be used outside its block",
        )

    def uncommon(self, first: str, second: str) -> tuple[list[str], list[str]]:
        """The ancestors of each not shared with the other (kfp's uncommon ancestors)."""
        a, b = self.chain(first), self.chain(second)
        common = sum(1 for x, y in zip(a, b, strict=False) if x == y)
        return a[common:], b[common:]


def condition_channels(root: TasksGroup) -> dict[str, dict[str, PipelineChannel]]:
    """Per task, the channels compared by the conditions of its enclosing groups."""
    found: dict[str, dict[str, PipelineChannel]] = collections.defaultdict(dict)

    def visit(group: TasksGroup, current: list[PipelineChannel]) -> None:
        if isinstance(group, ConditionBase):
            current = current + channels_of_conditions(group.conditions)
        for task in group.tasks:
            for channel in current:
                found[task.name].setdefault(channel.pattern, channel)
        for child in group.groups:
            visit(child, current)

    visit(root, [])
    return found


def channels_of_conditions(conditions: list) -> list[PipelineChannel]:
    return [
        operand
        for operation in conditions
        for operand in (operation.left_operand, operation.right_operand)
        if isinstance(operand, PipelineChannel)
    ]


def _loop_chain(channel: PipelineChannel) -> collections.deque:
    """A loop item, the items it iterates, and so on up to a plain channel."""
    chain: collections.deque = collections.deque()
    current: Any = channel
    while isinstance(current, LOOP_CHANNELS):
        chain.append(current)
        if isinstance(current, LOOP_CHANNELS[2]):
            current = current.loop_argument
        else:
            current = current.items_or_pipeline_channel
    if isinstance(current, PipelineChannel):
        chain.append(current)
    return chain


def _add(inputs: Inputs, group: str, channel: PipelineChannel, producer: Any) -> None:
    inputs[group].setdefault((channel.pattern, producer), channel)


def group_inputs(graph: GroupGraph, conditions: dict) -> Inputs:
    """Per task or group, the channels it takes from outside (channel, producer group)."""
    inputs: Inputs = collections.defaultdict(dict)
    for task in graph.context.tasks.values():
        for channel in task.channel_inputs + list(conditions[task.name].values()):
            chain = _loop_chain(channel)
            if channel.task_name is not None and channel.task is not None:
                _inputs_from_task(graph, inputs, task, channel, chain)
            elif not task.is_exit_handler:
                _inputs_from_parameter(graph, inputs, task, channel, chain)
    return inputs


def _inputs_from_task(graph, inputs, task, channel, chain) -> None:
    upstream, downstream = graph.uncommon(channel.task.name, task.name)
    for index, group_name in enumerate(downstream):
        _add(inputs, group_name, chain[-1], upstream[0] if index == 0 else None)
        loop = graph.loops.get(group_name)
        if loop is not None and chain[-1].full_name in loop.loop_argument.full_name:
            chain.pop()
            if not chain:
                break


def _inputs_from_parameter(graph, inputs, task, channel, chain) -> None:
    parents = graph.task_parents[task.name]
    if isinstance(channel, LOOP_CHANNELS) and channel.is_with_items_loop_argument:
        for group_name in parents[::-1]:
            _add(inputs, group_name, chain[0], None)
            loop = graph.loops.get(group_name)
            if loop is not None and chain[0].full_name in loop.loop_argument.full_name:
                chain.popleft()
                if not chain:
                    break
        return
    for group_name in parents:
        _add(inputs, group_name, chain[-1], None)
        loop = graph.loops.get(group_name)
        if loop is not None and chain[-1].full_name in loop.loop_argument.full_name:
            chain.pop()
            if not chain:
                break


def collected_channel(name: str, start: PipelineChannel, task_name: str) -> PipelineChannel:
    """The list a loop group surfaces for a dsl.Collected output."""
    if isinstance(start, PipelineArtifactChannel):
        return PipelineArtifactChannel(name, start.channel_type, task_name, is_artifact_list=True)
    return PipelineParameterChannel(name, "LIST", task_name)


def _check_collected(graph: GroupGraph, consumer: str, upstream: list[str]) -> None:
    producer = upstream[-1]
    if all(graph.groups[g].group_type != "for-loop" for g in upstream[:-1]):
        raise CompileError(
            "dsl.Collected can only be used to fan-in outputs produced by a task within a "
            "dsl.ParallelFor context to a task outside of the dsl.ParallelFor context. "
            f"Producer task {producer} is either not in a dsl.ParallelFor context or is only "
            f"in a dsl.ParallelFor that also contains consumer task {consumer}.",
            task=consumer,
            hint="use dsl.Collected only outside the loop that produces the output",
        )
    outer = graph.groups[upstream[0]]
    if outer.group_type in ("condition", "exit-handler"):
        raise CompileError(
            "Illegal task dependency across DSL context managers. When using dsl.Collected "
            "to fan-in outputs from a task within a dsl.ParallelFor context, the "
            "dsl.ParallelFor context manager cannot be nested within a "
            f"dsl.{type(outer).__name__} context manager unless the consumer task is too. "
            f"Task {consumer} consumes from {producer} within a "
            f"dsl.{type(outer).__name__} context.",
            task=consumer,
            hint="move the consumer into the same condition/exit handler",
        )


def group_outputs(graph: GroupGraph, pipeline_outputs: dict) -> tuple[dict, dict]:
    """Per group, the outputs it surfaces (Collected lists, OneOf values); and the
    pipeline outputs re-pointed at the groups that surface them."""
    outputs: dict[str, dict[str, PipelineChannel]] = collections.defaultdict(dict)
    done: set[int] = set()
    children = {
        g.name: [c.name for c in g.groups] + [t.name for t in g.tasks] for g in graph.all_groups
    }
    for task in graph.context.tasks.values():
        for channel in task.channel_inputs:
            if isinstance(channel, Collected):
                _surface_collected(graph, outputs, channel, task.name, children)
            elif isinstance(channel, OneOfMixin) and id(channel) not in done:
                _surface_oneof(graph, outputs, channel, task.name)
                done.add(id(channel))
    for key, channel in pipeline_outputs.items():
        if isinstance(channel, Collected):
            pipeline_outputs[key] = _surface_collected_output(graph, outputs, channel)
        elif isinstance(channel, OneOfMixin) and id(channel) not in done:
            _surface_oneof(graph, outputs, channel, None)
    return outputs, pipeline_outputs


def _surface_collected(graph, outputs, channel, consumer: str, children) -> None:
    upstream, downstream = graph.uncommon(channel.task_name, consumer)
    _check_collected(graph, consumer, upstream)
    surfaced = injected_name(channel)
    parent_consumer = downstream[0]
    producer = upstream.pop()
    for name in reversed(upstream):
        outputs[name][surfaced] = collected_channel(channel.name, channel.output, producer)
        channel.name, channel.task_name, producer = surfaced, name, name
        if parent_consumer in children[graph.group_parents[name][-2]]:
            break


def _surface_collected_output(graph, outputs, channel) -> PipelineChannel:
    surfaced = injected_name(channel)
    upstream = graph.task_parents[channel.task_name][1:]
    producer = upstream.pop()
    name = producer
    for name in reversed(upstream):
        new = collected_channel(channel.name, channel.output, producer)
        channel.name, channel.task_name, producer = surfaced, name, name
        outputs[name][surfaced] = new
    return collected_channel(surfaced, channel.output, name)


def _surface_oneof(graph, outputs, channel, consumer: str | None) -> None:
    channel.channels = [copy.copy(c) for c in channel.channels]
    for inner in channel.channels:
        if consumer is not None:
            upstream, _ = graph.uncommon(inner.task_name, consumer)
        else:
            upstream = graph.task_parents[inner.task_name][1:]
        surfaced = injected_name(inner)
        for name in reversed(upstream):
            if name == inner.task_name:
                continue
            if name == channel.condition_branches_group.name:
                outputs[name][channel.name] = channel
                break
            outputs[name][surfaced] = copy.copy(inner)
            inner.name, inner.task_name = surfaced, name


def dependencies(graph: GroupGraph, conditions: dict) -> dict[str, set[str]]:
    """Per task or group, the sibling tasks/groups it must wait for."""
    found: dict[str, set[str]] = collections.defaultdict(set)
    for task in graph.context.tasks.values():
        channels = task.channel_inputs + list(conditions[task.name].values())
        upstream = {c.task.name: c.task for c in channels if c.task_name and c.task is not None}
        for name in task.dependent_tasks:
            upstream[name] = _after_target(graph, name, task.name)
        for name in upstream:
            up, down = graph.uncommon(name, task.name)
            _check_crossing(graph, task, name, [n for n in up if n != name])
            found[down[0]].add(up[0])
    _check_cycles(found, graph.context.name)
    return found


def _check_cycles(found: dict[str, set[str]], pipeline: str) -> None:
    """kfp writes a cyclic DAG without complaint; no backend can run one."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for upstream in sorted(found.get(node, ())):
            if state.get(upstream) == 1:
                cycle = (
                    [*path[path.index(upstream) :], upstream]
                    if upstream in path
                    else [
                        node,
                        upstream,
                    ]
                )
                raise CompileError(
                    "the pipeline has a dependency cycle: " + " -> ".join(cycle),
                    pipeline=pipeline,
                    hint="remove one of the .after() calls (or data dependencies) in the cycle",
                )
            if state.get(upstream) is None:
                visit(upstream, [*path, upstream])
        state[node] = 2

    for node in sorted(found):
        if node not in state:
            visit(node, [node])


def _after_target(graph: GroupGraph, name: str, task: str) -> Any:
    context = graph.context
    if name in context.tasks:
        return context.tasks[name]
    group = graph.groups.get(name)
    if isinstance(group, ExitHandler):
        return group
    raise CompileError(
        f"task waits (.after) for {name!r}, which is not a task or exit handler of this pipeline",
        task=task,
        hint="pass tasks of the same pipeline to .after()",
    )


def _check_crossing(graph: GroupGraph, task: Any, upstream: str, groups: list[str]) -> None:
    if not groups:
        return
    group = graph.groups.get(groups[0])
    kind = type(group).__name__
    if isinstance(group, (ConditionBase, ExitHandler)):
        raise CompileError(
            "Illegal task dependency across DSL context managers. A downstream task cannot "
            f"depend on an upstream task within a dsl.{kind} context unless the downstream "
            f"is within that context too. Found task {task.name} which depends on upstream "
            f"task {upstream} within an uncommon dsl.{kind} context.",
            task=task.name,
            hint="move the task into the same block, or combine the branch outputs with dsl.OneOf",
        )
    if isinstance(group, ParallelFor) and any(
        c.task_name == upstream for c in task.channel_inputs if not isinstance(c, Collected)
    ):
        raise CompileError(
            "Illegal task dependency across DSL context managers. A downstream task cannot "
            "depend on an upstream task within a dsl.ParallelFor context unless the "
            "downstream is within that context too or the outputs are begin fanned-in to a "
            f"list using dsl.Collected. Found task {task.name} which depends on upstream "
            f"task {upstream} within an uncommon dsl.ParallelFor context.",
            task=task.name,
            hint="wrap the output in dsl.Collected(...) to fan it in",
        )
