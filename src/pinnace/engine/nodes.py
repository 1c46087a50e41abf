"""Task instances of a run, addressed by path, and the driver's in-memory view of a run.

A task of the root DAG is addressed by its name (`train`); a task inside a DAG component by
`parent/child` (`condition-branches-1/condition-2/show`); a loop iteration by its index
(`for-loop-1[0]`, whose tasks are `for-loop-1[0]/square`). Every instance resolves its inputs
in a scope: the inputs of its enclosing DAG instance, and its siblings (same prefix).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from ..executors.base import ExecutionOutcome, TaskLaunch
from ..stores.base import ExecutionRecord, TaskRecord
from .inputs import ArtifactDict, BoundInputs, TaskOutputs
from .plan import Plan, PlannedTask, TaskKind


class NodeKind(str, Enum):
    """What a task instance is; the three group kinds expand into child instances."""

    CONTAINER = "container"
    IMPORTER = "importer"
    DAG = "dag"
    LOOP = "loop"
    ITERATION = "iteration"

    @property
    def is_group(self) -> bool:
        return self in (NodeKind.DAG, NodeKind.LOOP, NodeKind.ITERATION)


class Verdict(Enum):
    """Whether a pending instance starts now, waits, or never starts (a task failed)."""

    GO = "go"
    WAIT = "wait"
    SKIP = "skip"


@dataclass
class Node:
    """One instance of a planned task in a run."""

    path: str
    task: PlannedTask
    #: the path prefix of this node's siblings: "" in the root DAG, "parent/" inside one
    prefix: str
    parent: str | None
    #: the resolved inputs of the enclosing DAG instance
    parameters: Mapping[str, Any]
    artifacts: Mapping[str, list[ArtifactDict]]
    #: set on loop iterations: the iteration index and its inputs (loop inputs + item)
    iteration: int | None = None
    inputs: BoundInputs | None = None
    children: list[str] = field(default_factory=list)

    @cached_property
    def kind(self) -> NodeKind:  # asked for every pending node at every scheduling step
        if self.task.kind is TaskKind.CONTAINER:
            return NodeKind.CONTAINER
        if self.task.kind is TaskKind.IMPORTER:
            return NodeKind.IMPORTER
        if self.iteration is not None:
            return NodeKind.ITERATION
        return NodeKind.LOOP if self.task.iterator else NodeKind.DAG

    @cached_property
    def is_group(self) -> bool:
        return self.kind.is_group

    def sibling(self, name: str) -> str:
        return self.prefix + name


def iteration_path(loop_path: str, index: int) -> str:
    return f"{loop_path}[{index}]"


@dataclass
class Attempt:
    """One execution of a container task, in flight."""

    path: str
    task: PlannedTask
    execution: ExecutionRecord
    inputs: BoundInputs
    executor_input: dict[str, Any]
    key: str | None
    started: float


@dataclass
class Starting:
    """An attempt recorded as started in the store, whose process is not started yet: the
    driver submits it once the store committed the record (see RunDriver._loop)."""

    attempt: Attempt
    launch: TaskLaunch
    #: the message of its RUNNING event
    message: str


@dataclass
class Progress:
    """Everything the driver knows about a run while it drives it."""

    plan: Plan
    records: dict[str, TaskRecord]
    nodes: dict[str, Node] = field(default_factory=dict)
    #: paths of nodes not started yet, in the order they became known (see add_pending)
    pending: list[str] = field(default_factory=list)
    #: how many of `pending` are not container tasks (groups, importers)
    pending_others: int = 0
    #: outputs of finished instances (tasks and groups) by path
    finished: dict[str, TaskOutputs] = field(default_factory=dict)
    running: dict[Future[ExecutionOutcome], Attempt] = field(default_factory=dict)
    #: attempts recorded as started whose processes start once the record is committed
    starting: list[Starting] = field(default_factory=list)
    #: pending path -> an upstream task it waited on, not finished when last looked at
    blockers: dict[str, str] = field(default_factory=dict)
    #: paths of the group instances (DAGs, loops, iterations) known to this drive, in the
    #: order they became known (a dict as an ordered set)
    groups: dict[str, None] = field(default_factory=dict)
    #: (not-before monotonic time, path) for retries waiting out their backoff
    delayed: list[tuple[float, str]] = field(default_factory=list)
    failure: str | None = None
    #: instances that never started because the run stopped (a failure elsewhere)
    stopped: set[str] = field(default_factory=set)
    #: executions each task had before this drive began: a resumed run gets a fresh retry budget
    prior_attempts: dict[str, int] = field(default_factory=dict)
    #: paths the executor was told about ahead of their start (see TaskLauncher.prestart)
    prestarted: set[str] = field(default_factory=set)

    def add_pending(self, path: str) -> None:
        self.pending.append(path)
        if self.nodes[path].kind is not NodeKind.CONTAINER:
            self.pending_others += 1

    def take_pending(self, path: str) -> None:
        self.pending.remove(path)
        if self.nodes[path].kind is not NodeKind.CONTAINER:
            self.pending_others -= 1

    @property
    def busy(self) -> int:
        """Attempts taking an executor slot: running, or about to be submitted."""
        return len(self.running) + len(self.starting)

    def sibling_outputs(self, node: Node) -> Mapping[str, TaskOutputs]:
        """Finished siblings' outputs by their task name (the names bindings use)."""
        return _Siblings(self.finished, node.prefix)


class _Siblings(Mapping[str, TaskOutputs]):
    """The finished instances of one scope by task name: a view of `Progress.finished`,
    looked up by key (a wide fan-out binds each task without copying every output)."""

    def __init__(self, finished: Mapping[str, TaskOutputs], prefix: str) -> None:
        self._finished = finished
        self._prefix = prefix

    def __getitem__(self, name: str) -> TaskOutputs:
        if "/" in name or "[" in name:
            raise KeyError(name)
        return self._finished[self._prefix + name]

    def __iter__(self) -> Iterator[str]:
        cut = len(self._prefix)
        for path in self._finished:
            if path.startswith(self._prefix) and "/" not in path[cut:] and "[" not in path[cut:]:
                yield path[cut:]

    def __len__(self) -> int:
        return sum(1 for _ in self)


def in_exit_subtree(progress: Progress, node: Node) -> bool:
    """Whether `node` lies inside a DAG that runs after failures (an exit task that is a
    pipeline, or a group with `ignore_upstream_failure`): its tasks run as in any DAG."""
    parent = node.parent
    while parent:
        enclosing = progress.nodes.get(parent)
        if enclosing is None:
            return False
        if enclosing.task.runs_after_failure:
            return True
        parent = enclosing.parent
    return False
