"""The executor interface: where a task's process runs (submit, cancel, capacity, close)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Resources:
    """Limits from the task spec (`resources` in the KFP deployment spec)."""

    cpu_limit: float | None = None
    memory_limit_bytes: int | None = None
    accelerator_type: str | None = None
    accelerator_count: int | None = None


@dataclass(frozen=True)
class Mount:
    """A folder of this machine the step sees at `target` (a kfp-kubernetes volume).

    `temporary` sources (empty dirs, secrets and config maps as files) belong to one
    execution: the executor removes them when it ends.
    """

    source: str
    target: str
    read_only: bool = False
    temporary: bool = False


def remove_temporary(mounts: Iterable[Mount]) -> None:
    """Remove an execution's own volumes (empty dirs, secrets and config maps as files)."""
    for mount in mounts:
        if mount.temporary:
            shutil.rmtree(mount.source, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.removedirs(os.path.dirname(mount.source))


@dataclass(frozen=True)
class TaskLaunch:
    """One execution of a task, bound to its inputs: what the engine hands an executor.

    Serializable and free of local paths (it may run on another machine): `command` and
    `args` are the container's, placeholders unfilled; `executor_input` is the KFP executor
    input with artifact URIs (inputs where they are, outputs where they must be committed
    under `artifact_root`) and output files named relative to the execution's folder. The
    executor stages it (see executors/staging.py): fetches inputs, fills the placeholders,
    runs, commits the outputs and reports them in `ExecutionOutcome.outputs`. `log_path` is
    where, on the engine's machine, the executor delivers the execution's log.
    """

    run_id: str
    task_name: str
    execution_id: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    executor_input: dict[str, Any]
    artifact_root: str
    log_path: Path
    attempt: int = 1
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = Resources()
    #: node labels the task must run on (kfp-kubernetes `add_node_selector`); the Ray
    #: executor places by them, the local one has a single node
    node_selector: dict[str, str] = field(default_factory=dict)
    #: folders bound into the step's view (kfp-kubernetes volumes; engine/platform.py)
    mounts: tuple[Mount, ...] = ()
    #: the run's namespace (its owner on a server; None for a CLI run): sandboxed steps
    #: fork only from a fork server of their own owner
    namespace: str | None = None


@dataclass(frozen=True)
class StagedLaunch:
    """A launch staged on the machine that runs it: every path is local there.

    `command` and `args` have every placeholder filled; `executor_input` is the one the
    runtime reads, and `output_metadata_path` is where it writes `executor_output.json`.
    """

    run_id: str
    task_name: str
    execution_id: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    executor_input: dict[str, Any]
    output_metadata_path: Path
    workdir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = Resources()
    mounts: tuple[Mount, ...] = ()
    #: the run's namespace (see TaskLaunch.namespace)
    namespace: str | None = None


@dataclass(frozen=True)
class ExecutionOutputs:
    """What a finished execution wrote, as its executor collected it (artifacts committed).

    `parameters` holds each output parameter file's text (None: not written); `artifacts`
    maps each output artifact to {"written": bool, "metadata": {...reported}}.
    """

    executor_output: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, str | None] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecutionOutcome:
    """How an execution ended. `error` is a one-line reason; the log has the rest."""

    exit_code: int
    error: str | None = None
    #: the interpreter and requirements the execution ran with
    environment: dict[str, Any] = field(default_factory=dict)
    #: what it wrote (only when it succeeded); see `ExecutionOutputs`
    outputs: ExecutionOutputs | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.error is None


@dataclass(frozen=True)
class UpcomingTask:
    """A task instance expected to start soon; its container is not resolved yet.

    `hint` names it uniquely (e.g. "<run id>/<task path>"); `run_id` groups the warm
    processes started for one run, so that they can be discarded when it ends.
    """

    hint: str
    run_id: str
    image: str
    command: tuple[str, ...]
    args: tuple[Any, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    #: the run's namespace (see TaskLaunch.namespace)
    namespace: str | None = None


class Executor(Protocol):
    """Runs task processes; one small interface shared by the local and Ray executors.

    `submit` returns at once; the future resolves to the outcome (never raises for a task
    that failed: the outcome says why). `cancel` stops an execution wherever it runs.
    """

    @property
    def capacity(self) -> int:
        """How many executions may run at once."""

    def submit(self, launch: TaskLaunch) -> Future[ExecutionOutcome]: ...
    def cancel(self, execution_id: str) -> None: ...
    def kill_leftover(self, process: Mapping[str, Any]) -> int:
        """Kill what survives of an execution whose driver died (its recorded process
        identity); returns how many processes were killed. Run before a resume."""

    def close(self) -> None: ...


@runtime_checkable
class Prestarter(Protocol):
    """An executor that can get upcoming tasks ready before they start (optional)."""

    def prestart(self, upcoming: Sequence[UpcomingTask]) -> list[str]:
        """Prepare what it can for `upcoming`; return the hints it accepted."""

    def discard_prestarted(self, run_id: str) -> None:
        """Drop whatever was prepared for `run_id` and never started."""
