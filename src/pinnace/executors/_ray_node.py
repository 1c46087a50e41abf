"""The side of the Ray executor that runs on a node: one attempt, staged and supervised there.

A Ray worker process runs `node_attempt` for each attempt Ray placed on its node: the launch
is staged against the artifact store opened on the node, the step's environment is built
with the node's uv cache, the process runs under the local executor's supervision, and log
chunks stream back to the driver as the generator's items, the outcome last.

A tether process per worker kills the attempts' process trees when the worker dies (its
node shut down, the raylet killed): an attempt's processes never outlive the Ray task, so an
attempt retried elsewhere never runs twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from ..errors import PinnaceError
from .base import ExecutionOutcome, TaskLaunch
from .staging import run_attempt

#: seconds between two log chunks sent back while an attempt runs
LOG_INTERVAL_S = 0.2


@dataclass(frozen=True)
class NodeConfig:
    """How a node runs attempts: its Pinnace home (uv cache, work folders; None: the node's
    PINNACE_HOME, else ~/.pinnace) and whether tasks use the worker's interpreter."""

    home: str | None = None
    use_current_python: bool = False
    #: run steps in the node's sandbox (executors/_sandbox.py), hiding the node's home
    sandbox: bool = False


@dataclass(frozen=True)
class LogChunk:
    data: bytes


@dataclass(frozen=True)
class Finished:
    """The attempt's outcome, with the end of its log."""

    outcome: ExecutionOutcome
    log_tail: bytes = b""


@dataclass(frozen=True)
class Started:
    """The attempt's process started: its identity (for kill_leftover) and the node."""

    identity: dict[str, Any]
    node: str


_EXECUTORS: dict[tuple[str, bool, bool, tuple[str, ...]], tuple[Any, _Tether]] = {}
_LOCK = threading.Lock()


def node_attempt(
    launch: TaskLaunch, config: NodeConfig, gpus: tuple[str, ...], node: str
) -> Iterator[LogChunk | Started | Finished | ExecutionOutcome]:
    """Run one attempt on this node; yields log chunks and Started, then Finished."""
    home = Path(config.home or os.environ.get("PINNACE_HOME") or "~/.pinnace").expanduser()
    log_path = home / "logs" / launch.run_id / f"{launch.task_name}.{launch.execution_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch()
    started: list[Started] = []
    try:
        executor = _local_executor(home, config, gpus, started, node)
    except PinnaceError as exc:  # e.g. no sandbox on this node
        yield ExecutionOutcome(exit_code=-1, error=exc.message, environment={"ray_node": node})
        return
    result: list[ExecutionOutcome] = []

    def attempt() -> None:
        try:
            from ..stores import open_artifact_store

            store = open_artifact_store(launch.artifact_root)
            result.append(
                run_attempt(
                    launch,
                    store,
                    home / "work",
                    log_path,
                    lambda staged: executor.submit_staged(staged).result(),
                )
            )
        except PinnaceError as exc:
            result.append(ExecutionOutcome(exit_code=-1, error=exc.message))
        except Exception as exc:  # a bug must fail the attempt, not hang it
            result.append(ExecutionOutcome(exit_code=-1, error=f"on node {node}: {exc!r}"))

    worker = threading.Thread(target=attempt, name=f"pinnace-{launch.execution_id[:8]}")
    worker.start()
    tail = b""
    try:
        with open(log_path, "rb") as log:
            while worker.is_alive():
                worker.join(LOG_INTERVAL_S)
                if not worker.is_alive():
                    break
                while started:
                    yield started.pop(0)
                if chunk := log.read():
                    yield LogChunk(chunk)
            # Done: the rest of the log travels with the outcome (one object, not three), and
            # a process that has ended needs no recording.
            tail = log.read()
    except BaseException:  # canceled by the driver (KeyboardInterrupt) or the worker exits
        executor.cancel(launch.execution_id, grace=2.0)
        worker.join(10)
        raise
    finally:
        log_path.unlink(missing_ok=True)
    outcome = result[0] if result else ExecutionOutcome(exit_code=-1, error="attempt lost")
    yield Finished(replace(outcome, environment={**outcome.environment, "ray_node": node}), tail)


def _local_executor(
    home: Path, config: NodeConfig, gpus: tuple[str, ...], started: list[Started], node: str
) -> Any:
    """The local executor that runs this worker's attempts (one per GPU set, reused)."""
    key = (str(home), config.use_current_python, config.sandbox, gpus)
    with _LOCK:
        if key not in _EXECUTORS:
            from ..envs.cache import EnvironmentCache
            from .local import LocalExecutor
            from .runtime_copy import materialize_runtime

            tether = _Tether()
            sandbox = None
            if config.sandbox:
                from .local import Sandbox

                sandbox = Sandbox.require([home])
            executor = LocalExecutor(
                env_cache=EnvironmentCache(home / "envs"),
                runtime_path=materialize_runtime(home),
                parallelism=1,
                use_current_python=config.use_current_python,
                gpus=list(gpus),
                fork_servers=False,
                on_process=tether.watch,
                sandbox=sandbox,
            )
            _EXECUTORS[key] = (executor, tether)
        executor, tether = _EXECUTORS[key]
    tether.listener = lambda _eid, identity: started.append(Started(dict(identity), node))
    return executor


class _Tether:
    """A helper process that kills the watched process trees once this worker is gone."""

    def __init__(self) -> None:
        self.listener: Any = None
        self._process: subprocess.Popen[bytes] | None = None

    def watch(self, execution_id: str, identity: Mapping[str, Any]) -> None:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pinnace.executors._ray_node"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives the worker's process group
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
        stdin: IO[bytes] | None = self._process.stdin
        if stdin is not None:
            stdin.write(json.dumps(dict(identity)).encode() + b"\n")
            stdin.flush()
        if self.listener is not None:
            self.listener(execution_id, identity)


def _tether_main() -> None:
    """Read process identities until stdin closes (the worker died), then kill them all."""
    from ._supervision import kill_leftover

    watched = [json.loads(line) for line in sys.stdin if line.strip()]
    time.sleep(0.1)
    for identity in watched:
        try:
            kill_leftover(identity)
        except Exception:
            continue


if __name__ == "__main__":
    _tether_main()
