"""Prestarted (warm) task processes: interpreters started ahead of their task's launch.

While a task runs, the next ones are known (their upstream tasks are running or done). The
local executor starts one interpreter per upcoming task, in that task's environment, which
imports what the task's program imports (pinnace.runtime.warm) and then waits for its
launch. Starting a task is then writing one JSON line: the imports (pandas and
scikit-learn take seconds) overlapped with the previous task.

A warm process is keyed by everything a fresh process would get from its start: the
interpreter, the program kind, the environment variables and the CPU pinning; a launch
only takes a warm process whose key is exactly its own. It pre-imports the modules of every
program seen for that interpreter (a task that unpickles a model needs the modules another
task imported by name), so a task may find more modules in sys.modules than it imported.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .runtime_copy import RUNTIME_PACKAGE

#: top-level modules never pre-imported: the runtime provides `kfp` itself
_SKIPPED = frozenset({"kfp", "__future__", "__main__", RUNTIME_PACKAGE})
_BOOTSTRAP = f"__import__('{RUNTIME_PACKAGE}.warm').warm.serve()"


def program_modules(text: str) -> list[tuple[str, list[str]]]:
    """The modules a program imports anywhere (function bodies too), in order, deduplicated.

    `from a.b import c, d` gives ("a.b", ["c", "d"]) (c may be a submodule); relative
    imports, `kfp` (the runtime's) and unparsable programs give nothing.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name, [])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = found.setdefault(node.module, [])
            names.extend(a.name for a in node.names if a.name != "*" and a.name not in names)
    return [(m, n) for m, n in found.items() if m.split(".")[0] not in _SKIPPED]


def warm_key(python: str, kind: str, env: Mapping[str, str], cores: set[int] | None) -> str:
    """What a warm process must match to stand in for a fresh one (its modules need not)."""
    return json.dumps([python, kind, sorted(env.items()), sorted(cores or ())], sort_keys=True)


@dataclass
class _Warm:
    process: subprocess.Popen[bytes]
    key: str
    run_id: str


class WarmPool:
    """Idle warm processes by key; at most `limit` idle at once."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._idle: list[_Warm] = []
        self._starting = 0
        self._lock = threading.Lock()
        self._closed = False
        #: runs whose warm processes were discarded: one still starting is killed too
        self._discarded: set[str] = set()

    def reserve(self) -> bool:
        """Claim room for one more warm process (False when the pool is full or closed)."""
        with self._lock:
            if self._closed or len(self._idle) + self._starting >= self.limit:
                return False
            self._starting += 1
            return True

    def start(
        self,
        *,
        key: str,
        run_id: str,
        python: str,
        modules: list[tuple[str, list[str]]],
        runtime: bool,
        env: Mapping[str, str],
        cwd: str,
        preexec: Callable[[], None] | None,
    ) -> None:
        """Start one warm process (after `reserve()`); failures only mean no warm process."""
        process = None
        try:
            with tempfile.TemporaryFile() as scratch:  # what warming up prints, for the log
                process = subprocess.Popen(
                    [python, "-c", _BOOTSTRAP, json.dumps([modules, runtime])],
                    stdin=subprocess.PIPE,
                    stdout=scratch,
                    stderr=scratch,
                    cwd=cwd,
                    env=dict(env),
                    start_new_session=True,
                    preexec_fn=preexec,
                )
        except OSError:
            process = None
        with self._lock:
            self._starting -= 1
            if process is not None and not self._closed and run_id not in self._discarded:
                self._idle.append(_Warm(process, key, run_id))
                return
        if process is not None:
            kill(process)

    def take(self, key: str) -> subprocess.Popen[bytes] | None:
        """An idle, live warm process with exactly `key`, now owned by the caller."""
        with self._lock:
            for warm in self._idle:
                if warm.key == key and warm.process.poll() is None:
                    self._idle.remove(warm)
                    return warm.process
        return None

    def discard(self, run_id: str | None = None) -> None:
        """Kill the idle warm processes of `run_id` (all when None)."""
        with self._lock:
            if run_id is not None:
                self._discarded.add(run_id)
            doomed = [w for w in self._idle if run_id is None or w.run_id == run_id]
            self._idle = [w for w in self._idle if w not in doomed]
        for warm in doomed:
            kill(warm.process)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.discard()


def launch(
    process: subprocess.Popen[bytes],
    argv: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    log: str,
) -> bool:
    """Hand a warm process its task; False when it is gone (the caller starts a fresh one)."""
    message = json.dumps({"argv": list(argv), "cwd": cwd, "env": dict(env), "log": log})
    assert process.stdin is not None
    try:
        process.stdin.write(message.encode() + b"\n")
        process.stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        kill(process)
        return False
    return True


def kill(process: subprocess.Popen[bytes]) -> None:
    """Kill a process group and reap its leader."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        if process.stdin is not None:
            process.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
