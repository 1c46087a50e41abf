"""Which task executions fork from a fork server, and from which one (the local executor's part).

A lightweight Python program forks from the fork server of its environment (interpreter +
package set) whose process was started with exactly the task's environment variables and CPU
pinning (variables such as OMP_NUM_THREADS are read by the libraries while they import), so a
forked task sees what a fresh one would. The server imports the top-level modules of the
environment's declared packages and every module its programs import (their own `import`
statements; nothing from other environments). A task starts fresh instead when it:

- asks for GPUs (CUDA must not be initialised before the fork, and its devices are its own),
- opts out with the environment variable `PINNACE_FORK_SERVERS=0` (`set_env_variable`), or
  the executor runs with fork servers off (setting `fork_servers`, `PINNACE_FORK_SERVERS=0`),
- runs sandboxed where the executor has no sandboxed fork servers (setting
  `sandboxed_fork_servers`), or its folders or inputs lie outside the folders such a server
  serves (see docs/fork-servers.md, "Sandboxed attempts"),
- or its server is unsafe to fork (its imports started threads or loaded the CUDA driver),
  failed to start, or crashed repeatedly.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from ..envs.cache import MARKER as ENV_MARKER
from ..envs.cache import Environment, EnvironmentCache
from ..envs.commands import KFP_V2, LightweightProgram, recognize_command
from ..envs.requirements import requirement_name
from ._enclosure import Enclosure, EnclosureError, PlannedMount, enclose, open_channel, plan_mounts
from ._sandbox import PER_TASK_VARIABLES, Sandbox, _hand_over, python_paths
from ._supervision import MARKER, Containment
from .base import StagedLaunch, UpcomingTask
from .containers import input_paths
from .forkserver import ForkedChild, ForkServer, ForkServerError, ServerSandbox, ServerSpec
from .forkserver_pool import ForkServerPool
from .runtime_copy import RUNTIME_PACKAGE

#: set to 0/false/no/off in a task's environment: that task starts in a fresh process
OPT_OUT_VARIABLE = "PINNACE_FORK_SERVERS"
#: variables that differ for every attempt; the child gets them, the server is shared
_PER_ATTEMPT = frozenset({MARKER, "PWD"})
#: upcoming-task shapes remembered (a long-lived server sees many pipelines)
_MAX_HINTED = 1024
#: servers of an announcement, in its order, that start at normal priority (the task
#: starting now and the next one); later ones import at a lower priority where possible
_SOON = 2
#: top-level modules never imported ahead: the runtime provides `kfp` itself
_SKIPPED = frozenset({"kfp", "__future__", "__main__", RUNTIME_PACKAGE})
#: where a sandboxed child lists the modules it imported (in its task folder: the only
#: place it writes that the executor reads; untrusted, see ForkServerPool.note_imports)
LEARNED_FILE = ".pinnace-imports.json"

#: (cpu_limit, task env, gpus, managed) -> the task's environment variables and CPU pinning
TaskEnv = Callable[
    [float | None, Mapping[str, str], list[str], bool], tuple[dict[str, str], set[int] | None]
]


@dataclass(frozen=True)
class TaskProgram:
    """How a lightweight program runs: its environment and what its fork server imports."""

    kind: str
    modules: tuple[tuple[str, tuple[str, ...]], ...]
    #: an environment Pinnace built (bytecode writing is turned back on in it)
    managed: bool
    python: str
    #: the environment's identity: interpreter, its folder, and when it was built (requirement
    #: sets that install exactly the same distributions share one: see pinnace.envs.cache)
    environment: str
    packages: tuple[str, ...]


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


@lru_cache(maxsize=128)
def _modules_of(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((m, tuple(n)) for m, n in program_modules(text))


def task_program(program: LightweightProgram, env: Environment, use_current: bool) -> TaskProgram:
    """The run shape of `program` in `env`."""
    managed = bool(env.requirements) and not use_current
    marker = env.python.parent.parent / ENV_MARKER
    built = ""
    if managed:
        with contextlib.suppress(OSError):
            built = str(marker.stat().st_mtime_ns)
    return TaskProgram(
        kind=program.kind,
        modules=_modules_of(program.program_text),
        managed=managed,
        python=str(env.python),
        environment=json.dumps([str(env.python), env.folder_key, built]),
        packages=tuple(n for n in map(requirement_name, env.requirements) if n),
    )


#: an upcoming task's program, variables and owner (its run's namespace)
_Shape = tuple[TaskProgram, dict[str, str], str | None]


class TaskForking:
    """Starts fork servers for upcoming tasks and forks executions from them."""

    def __init__(
        self,
        *,
        env_cache: EnvironmentCache,
        use_current_python: bool,
        task_env: TaskEnv,
        pool: ForkServerPool | None,
        sandboxed: bool = False,
        sandbox: Sandbox | None = None,
        enclosure: Enclosure | None = None,
        runtime_path: Path | None = None,
        fork_servers: bool = True,
    ) -> None:
        """`sandboxed` attempts fork only with a `sandbox` and an `enclosure` (where their
        server's children find their folders), from servers of their own owner; else they
        start fresh. `runtime_path` is the runtime copy a sandboxed server is shown;
        `fork_servers` False: the executor's fork servers are off (the reason recorded)."""
        self.fork_servers = fork_servers
        self._envs = env_cache
        self._use_current = use_current_python
        self._task_env = task_env
        self.pool = pool
        self.sandboxed = sandboxed
        self.enclosure = enclosure if sandboxed and sandbox is not None else None
        self._sandbox = sandbox
        self._runtime_path = runtime_path
        #: an upcoming task's container, variables, resources and owner -> its program,
        #: variables and owner
        self._hinted: dict[tuple[Any, ...], _Shape] = {}
        #: environment -> the packages its tasks declared (aliased sets declare different ones)
        self._packages: dict[str, dict[str, None]] = {}

    def prestart(self, upcoming: Sequence[UpcomingTask]) -> list[str]:
        """Start the fork servers of tasks expected soon; return the hints dealt with.

        `upcoming` is in the order the tasks will need their servers (the engine tells the
        tasks it has just started first); the pool starts the servers in that order, and the
        first `_SOON` distinct ones (the tasks starting now and next) at normal CPU priority,
        the later ones at a lower one while they import (see forkserver_pool.py).
        A hint not returned (its environment is not built yet) may be offered again later.
        Never raises: a task whose server is not ready just waits for it or starts fresh.
        """
        done = []
        shapes: list[_Shape] = []
        for task in upcoming:
            try:
                later, shape = self._resolve(task)
            except Exception:  # starting servers early is an optimisation only
                later, shape = False, None
            if not later:
                done.append(task.hint)
            if shape is not None and all(shape is not s for s in shapes):  # a fan-out: once
                shapes.append(shape)
        # Only now, with what every task told imports and declares known: a server started
        # for the first task of an environment then imports what the later ones need too
        # (else it would import it when the first of those comes, while that task waits).
        seen: set[str] = set()
        for program, environ, owner in shapes:
            with contextlib.suppress(Exception):
                self._ask(self._spec_of(program, environ, owner), seen)
        return done

    def _resolve(self, task: UpcomingTask) -> tuple[bool, _Shape | None]:
        """Whether `task`'s environment is not built yet, and the shape of its server, if any.

        The environment's modules and packages learn the task's own.
        """
        if self.pool is None or (task.resources.accelerator_count or 0) > 0:
            return False, None
        if self.sandboxed and self.enclosure is None:
            return False, None
        if _opted_out(task.env):
            return False, None
        # Many tasks share a component (a fan-out): work out their server once.
        memo: tuple[Any, ...] | None = (
            task.command,
            task.args,
            tuple(sorted(task.env.items())),
            task.resources,
            task.namespace,
        )
        try:
            known = self._hinted.get(memo)  # type: ignore[arg-type]
        except TypeError:  # a structured placeholder in the arguments
            memo, known = None, None
        if known is not None:
            return False, known
        program = recognize_command(list(task.command), list(task.args))
        if program is None:
            return False, None
        if self._use_current:
            env = self._envs.current()
        else:
            found = self._envs.find(program.packages, index_urls=program.index_urls)
            if found is None:
                return True, None
            env = found
        shape = task_program(program, env, self._use_current)
        environ, _ = self._task_env(task.resources.cpu_limit, task.env, [], shape.managed)
        scoped = self._scoped(shape, task.namespace)
        self.pool.learn(scoped, _as_lists(shape.modules))
        self._packages.setdefault(scoped, {}).update(dict.fromkeys(shape.packages))
        resolved = (shape, environ, task.namespace)
        if memo is not None and len(self._hinted) < _MAX_HINTED:
            self._hinted[memo] = resolved
        return False, resolved

    def _ask(self, spec: ServerSpec, seen: set[str]) -> None:
        assert self.pool is not None
        if spec.key not in seen:
            seen.add(spec.key)
            self.pool.acquire(spec, wait=False, soon=len(seen) <= _SOON)

    def fork(
        self,
        launch: StagedLaunch,
        argv: Sequence[str],
        env: Mapping[str, str],
        shape: TaskProgram | None,
        gpus: Sequence[str],
        log: IO[bytes],
        environment: dict[str, Any],
        attempt: Containment,
    ) -> ForkedChild | None:
        """The execution running in a child of its environment's fork server, or None (fresh).

        The child enters `attempt` (its cgroups, death signal, cores, marker) before any task
        code runs and is attached to it here. `environment` (the execution's record) notes
        how it started.
        """
        reason = self._fresh_reason(launch, shape, gpus)
        mounts: list[PlannedMount] = []
        if reason is None and self.enclosure is not None:
            planned = plan_mounts(
                launch.workdir, input_paths(launch.executor_input), self.enclosure.bases
            )
            if isinstance(planned, str):
                reason = planned
            else:
                mounts = planned
        if reason is None:
            assert shape is not None and self.pool is not None
            scoped = self._scoped(shape, launch.namespace)
            self.pool.learn(scoped, _as_lists(shape.modules))
            spec = self._server_spec(shape, env, launch.namespace)
            server = self.pool.acquire(spec)
            if server is None:
                reason = self.pool.unsafe_reason(spec.key) or "no fork server"
            else:
                started = self._fork(launch, argv, env, log, attempt, server, spec, mounts)
                if isinstance(started, str):
                    reason = started
                else:
                    child, listing = started
                    self.pool.watch(child, scoped, listing)
                    child.watch(child.pid)  # its end is learned even if its server stops
                    attempt.attach(child.pid)
                    environment["forked"] = {"server_pid": server.pid, "pid": child.pid}
                    if self.enclosure is not None:
                        environment["forked"]["sandboxed"] = True
                    return child
        if shape is not None:
            environment["fresh"] = reason
        return None

    def _fork(
        self,
        launch: StagedLaunch,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: IO[bytes],
        attempt: Containment,
        server: ForkServer,
        spec: ServerSpec,
        mounts: list[PlannedMount],
    ) -> tuple[ForkedChild, Path] | str:
        """The running child and where it lists its imports, or why it could not fork.

        A sandboxed server's child enters its own sandbox first (executors/_enclosure.py);
        if that fails, the server's tasks start fresh from then on (the reason recorded).
        """
        assert self.pool is not None
        supervision = attempt.child_spec()
        control = None
        if self.enclosure is not None:
            listing = launch.workdir / LEARNED_FILE
            supervision["procs"] = []  # joined from here: its /sys is read-only
            if os.geteuid() == 0:
                _hand_over(launch.workdir)  # as for a fresh sandboxed step: nobody's
            control = open_channel()
        else:
            listing = self.pool.learn_file(launch.execution_id)
        try:
            child = server.fork(
                launch.execution_id,
                kind="module" if argv[1] == "-m" else "script",
                target=argv[2],
                args=list(argv[3:]),
                cwd=str(launch.workdir),
                env=env,
                stdout=log.fileno(),
                supervision=supervision,
                learn=str(listing),
                enclose=(
                    (self._child_spec(spec), control[1].fileno())
                    if self.enclosure is not None and control is not None
                    else None
                ),
            )
        except ForkServerError as exc:
            if control is not None:
                control[0].close()
            return str(exc)
        finally:
            if control is not None:
                control[1].close()
        if self.enclosure is None or control is None:
            return child, listing
        try:
            enclosed = enclose(
                control[0],
                ns_pid=child.pid,
                enclosure=self.enclosure,
                mounts=mounts,
                attempt=attempt,
            )
        except EnclosureError as exc:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                if exc.host_pid:
                    with contextlib.suppress(OSError):
                        os.kill(exc.host_pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=5)
            reason = f"its forked sandbox could not be set up: {exc}"
            self.pool.give_up(spec.key, reason)
            return reason
        child.pid = enclosed.host_pid  # the server reported its own pid namespace's number
        return child, listing

    def _fresh_reason(
        self, launch: StagedLaunch, shape: TaskProgram | None, gpus: Sequence[str]
    ) -> str | None:
        if not self.fork_servers:
            return "fork servers are off"
        if shape is None:
            return "not a lightweight Python program"
        if self.sandboxed and self.enclosure is None:
            return "sandboxed"
        if self.pool is None:
            return "fork servers are off"
        if launch.mounts:
            return "mounts volumes"
        if gpus or (launch.resources.accelerator_count or 0) > 0:
            return "uses GPUs"
        if _opted_out(launch.env):
            return f"opted out ({OPT_OUT_VARIABLE})"
        return None

    def stats(self) -> list[dict[str, Any]]:
        return self.pool.stats() if self.pool is not None else []

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def _child_spec(self, spec: ServerSpec) -> dict[str, Any]:
        """The child's sandbox: its enclosure, and what its server shows under /tmp or a
        base, which the child shows again on its own fresh ones (a fresh step's sandbox
        shows these paths there too)."""
        assert self.enclosure is not None
        shown = [*(spec.sandbox.read_only if spec.sandbox else ())]
        if self._sandbox is not None:
            shown += self._sandbox.shares
        covered = [Path("/tmp"), *self.enclosure.bases]
        keep = [str(p) for p in shown if any(c in Path(p).parents for c in covered)]
        return {**self.enclosure.child_spec(), "keep": keep}

    def _scoped(self, shape: TaskProgram, owner: str | None) -> str:
        """The environment's identity for servers and learning: a sandboxed server is its
        owner's alone (what one owner's tasks imported is never imported for another)."""
        if self.enclosure is None:
            return shape.environment
        return json.dumps([shape.environment, "sandboxed", owner])

    def _server_spec(
        self, shape: TaskProgram, env: Mapping[str, str], owner: str | None = None
    ) -> ServerSpec:
        """The server a task with variables `env` forks from (its attempt's own ones aside).

        Its packages are those every task of the environment declared so far: requirement
        sets that are aliases of one environment share its server. A sandboxed attempt's
        server is also its owner's (the run's namespace) and never an unsandboxed one.
        """
        environment = self._scoped(shape, owner)
        packages = self._packages.setdefault(environment, {})
        packages.update(dict.fromkeys(shape.packages))
        return self._spec_of(shape, env, owner)

    def _spec_of(
        self, shape: TaskProgram, env: Mapping[str, str], owner: str | None = None
    ) -> ServerSpec:
        environment = self._scoped(shape, owner)
        sandbox = None
        if self.enclosure is not None and self._sandbox is not None:
            shown = [*python_paths(shape.python)]
            if self._runtime_path is not None:
                shown.append(self._runtime_path)
            sandbox = ServerSandbox(self._sandbox, tuple(shown), self.enclosure.bases)
        packages = tuple(self._packages.get(environment, ()))
        return _server_spec(shape, env, packages, environment, sandbox)


def _server_spec(
    shape: TaskProgram,
    env: Mapping[str, str],
    packages: tuple[str, ...],
    environment: str | None = None,
    sandbox: ServerSandbox | None = None,
) -> ServerSpec:
    # The attempt's marker, PWD and its own HOME and TMPDIR go to the child, not the key.
    shared = {k: v for k, v in env.items() if k not in _PER_ATTEMPT and k not in PER_TASK_VARIABLES}
    environment = environment or shape.environment
    identity: list[Any] = [environment, sorted(shared.items())]
    if sandbox is not None:
        identity.append("sandboxed")
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]
    return ServerSpec(
        key=key,
        environment=environment,
        python=shape.python,
        env=shared,
        packages=packages,
        runtime=shape.kind == KFP_V2,
        sandbox=sandbox,
    )


def _opted_out(env: Mapping[str, str]) -> bool:
    value = env.get(OPT_OUT_VARIABLE)
    return value is not None and value.strip().lower() in ("0", "false", "no", "off")


def _as_lists(modules: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[str, list[str]]]:
    return [(m, list(n)) for m, n in modules]
