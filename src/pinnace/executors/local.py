"""LocalExecutor: each execution is a subprocess on this machine, in a cached environment.

Lightweight Python components (compiled by kfp 2.x, by Pinnace, or kfp 1.x programs) are
recognised from their container command: instead of `pip install`-ing on every run as the
container would, their program runs in a virtual environment built once per distinct set of
packages (see pinnace.envs). Other containers run their command on the host.

With `fork_servers` (the default) a lightweight program's execution is forked from a fork
server of its environment that has its imports done (see executors/forking.py and
docs/fork-servers.md).

Every execution is supervised (executors/_supervision.py): its whole process tree is
contained (a cgroup, else a subreaper and /proc tracking), its memory and CPU limits hold for
the tree, and the tree is killed when the execution ends, succeeded or not.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from ..envs.cache import Environment, EnvironmentCache
from ..envs.commands import LightweightProgram, recognize_command
from ..errors import ExecutorError, PinnaceError
from ..stores.base import ArtifactStore
from ._enclosure import Enclosure
from ._janitor import Janitor
from ._sandbox import (
    Sandbox,
    allowed_variables,
    gpu_devices,
    host_program,
    python_paths,
    task_folders,
)
from ._supervision import Containment, Limits, Supervisor, kill_leftover
from .base import (
    ExecutionOutcome,
    StagedLaunch,
    TaskLaunch,
    UpcomingTask,
    remove_temporary,
)
from .containers import (
    ENGINES,
    EngineProbe,
    container_command,
    current_user,
    input_paths,
    probe_engines,
)
from .forking import TaskForking, TaskProgram, task_program
from .forkserver import ForkedChild
from .forkserver_pool import ForkServerPool
from .limits import GpuPool, discover_gpus, human_bytes, thread_settings
from .runtime_copy import RUNTIME_PACKAGE
from .staging import discard_later, run_attempt

_KILL_GRACE_SECONDS = 5.0
_LOG = logging.getLogger("pinnace.executors.local")

#: called with (execution id, process identity) once an execution's process started
ProcessListener = Callable[[str, dict[str, Any]], None]


#: how long a fork server nobody forked from stays up (a server keeps them between runs)
_FORK_SERVER_IDLE_SECONDS = 600.0

#: every open LocalExecutor of this process (for `kill_all_tasks`)
_LIVE: weakref.WeakSet[LocalExecutor] = weakref.WeakSet()


def kill_all_tasks() -> None:
    """Kill every task tree of every executor of this process at once (a second Ctrl-C).

    Safe in a signal handler: it takes no lock.
    """
    for executor in list(_LIVE):
        executor.kill_all()


class LocalExecutor:
    """Runs executions as local subprocesses, at most `parallelism` at a time."""

    def __init__(
        self,
        *,
        env_cache: EnvironmentCache,
        runtime_path: Path,
        parallelism: int,
        use_current_python: bool = False,
        container_engines: Sequence[str] = ENGINES,
        gpus: Sequence[str] | None = None,
        fork_servers: bool = True,
        fork_server_pool: ForkServerPool | None = None,
        supervision: str | None = None,
        on_process: ProcessListener | None = None,
        artifacts: ArtifactStore | None = None,
        work_dir: Path | None = None,
        sandbox: Sandbox | None = None,
        sandboxed_fork_servers: bool = True,
    ) -> None:
        """`gpus` (Settings.gpus) None discovers them with nvidia-smi at the first GPU task.

        `fork_servers` False starts every task in a fresh interpreter; `fork_server_pool`
        bounds them (default: 8 servers, a quarter of the memory, closed after 10 idle minutes).
        `supervision` None contains task trees in cgroups where possible, else a subreaper;
        "cgroup1", "cgroup2" or "subreaper" asks for one. `on_process` learns each started
        execution's process identity (the metadata store keeps it, see `kill_leftover`).
        `artifacts` and `work_dir` are where `submit` stages launches: the artifact store and
        a scratch folder for the executions' files (both on this machine).
        `sandbox` runs every step inside it (executors/_sandbox.py); None runs steps with
        the same view of the machine as this process. With a sandbox, fork servers live in
        sandboxes of their own, one per owner, and each forked step enters its own sandbox
        first (docs/fork-servers.md, "Sandboxed attempts"); `sandboxed_fork_servers` False
        starts every sandboxed step fresh instead.
        """
        self._artifacts = artifacts
        self._work_dir = work_dir
        self._sandbox = sandbox
        self._engines = tuple(container_engines)
        self._probe: EngineProbe | None = None
        self._gpus: GpuPool | None = GpuPool(list(gpus)) if gpus is not None else None
        self._envs = env_cache
        self._runtime_path = runtime_path
        self._parallelism = max(1, parallelism)
        self._use_current = use_current_python
        self._pool = ThreadPoolExecutor(self._parallelism, thread_name_prefix="pinnace-task")
        #: removes ended attempts' folders and groups after their results are reported
        self._janitor = Janitor()
        self._supervisor = Supervisor(supervision, janitor=self._janitor)
        self._on_process = on_process
        self._processes: dict[str, Containment] = {}
        #: executions submitted and not finished; cancel marks only those (then forgets them)
        self._submitted: set[str] = set()
        self._canceled: set[str] = set()
        self._lock = threading.Lock()
        pool = None
        enclosure = self._enclosure() if sandboxed_fork_servers else None
        if fork_servers and (sandbox is None or enclosure is not None):
            pool = fork_server_pool or ForkServerPool(
                idle_seconds=_FORK_SERVER_IDLE_SECONDS,
                scratch=runtime_path.parent.parent / "forkservers",  # <home>/forkservers
                memory=runtime_path.parent.parent / "forkservers" / "learned",
            )
        self._forking = TaskForking(
            env_cache=env_cache,
            use_current_python=use_current_python,
            task_env=self._task_env,
            pool=pool,
            sandboxed=sandbox is not None,
            sandbox=sandbox,
            enclosure=enclosure,
            runtime_path=runtime_path,
            fork_servers=fork_servers,
        )
        _LIVE.add(self)

    def _enclosure(self) -> Enclosure | None:
        """Where a sandboxed fork server's children find their task folders and inputs: the
        scratch folder and a local artifact root (None: no sandbox, or nothing to serve)."""
        if self._sandbox is None or self._work_dir is None:
            return None
        bases = [Path(os.path.abspath(self._work_dir))]
        root = str(getattr(self._artifacts, "root", "") or "")
        if root and "://" not in root:
            bases.append(Path(os.path.abspath(root)))
        # Side by side in one home (the usual layout): the home is the base, so that a
        # forked step sees there what a fresh one does (the runtime, and the parents of its
        # folder and inputs), not an empty artifact root beside them.
        parents = {b.parent for b in bases}
        if len(parents) == 1 and len(bases) > 1 and str(next(iter(parents))) not in ("/", "/tmp"):
            bases = [next(iter(parents))]
        outermost = [b for b in bases if not any(o in b.parents for o in bases)]
        unique = tuple(dict.fromkeys(outermost))
        return Enclosure(unique, self._sandbox.network, self._sandbox.slirp)

    @property
    def capacity(self) -> int:
        return self._parallelism

    def submit(self, launch: TaskLaunch) -> Future[ExecutionOutcome]:
        """Stage `launch` (see executors/staging.py), run it, commit its outputs."""
        if self._artifacts is None or self._work_dir is None:
            raise ExecutorError("this LocalExecutor was built without an artifact store")
        artifacts, work_dir = self._artifacts, self._work_dir
        with self._lock:
            self._submitted.add(launch.execution_id)

        def attempt() -> ExecutionOutcome:
            try:
                return run_attempt(
                    launch, artifacts, work_dir, launch.log_path, self._execute, self._discard
                )
            finally:
                self._forget(launch.execution_id)  # staging may fail before _execute

        return self._pool.submit(attempt)

    def submit_staged(self, launch: StagedLaunch) -> Future[ExecutionOutcome]:
        """Run a launch already staged on this machine (its outputs are left in place)."""
        with self._lock:
            self._submitted.add(launch.execution_id)
        return self._pool.submit(self._execute, launch)

    def prestart(self, upcoming: Sequence[UpcomingTask]) -> list[str]:
        """Start the fork servers of tasks expected soon (see TaskForking.prestart)."""
        return self._forking.prestart(upcoming)

    def discard_prestarted(self, run_id: str) -> None:
        """Nothing to drop: fork servers belong to environments, not runs (they idle out)."""

    def fork_servers(self) -> list[dict[str, Any]]:
        """The running fork servers: environment, pid, memory (rss, pss), tasks in flight."""
        return self._forking.stats()

    @property
    def supervision(self) -> str:
        """How task trees are contained: "cgroup1", "cgroup2" or "subreaper"."""
        return self._supervisor.mode

    def cancel(self, execution_id: str, *, grace: float | None = None) -> None:
        """Stop an execution: SIGTERM to its whole tree, SIGKILL after `grace` seconds
        (default 5; 0 kills at once)."""
        grace = _KILL_GRACE_SECONDS if grace is None else grace
        with self._lock:
            if execution_id in self._submitted:
                self._canceled.add(execution_id)
            attempt = self._processes.get(execution_id)
        if attempt is None:
            return
        if grace <= 0:
            attempt.kill()
            return
        attempt.signal(signal.SIGTERM)
        # A task that ignores SIGTERM is killed after a grace period.
        timer = threading.Timer(grace, attempt.kill)
        timer.daemon = True
        timer.start()

    def kill_all(self) -> None:
        """Kill every running execution's tree now (no grace period, no lock taken)."""
        attempts = dict(self._processes)  # one atomic copy: a signal handler may call this
        self._canceled.update(attempts)
        for attempt in attempts.values():
            attempt.kill()

    def close(self) -> None:
        with self._lock:
            ids = list(self._processes)
        for execution_id in ids:
            self.cancel(execution_id)
        # The canceled attempts end within their grace period; a fork server that does not
        # answer (a task stopped it) must not hold close up: the servers close then, which
        # ends what they still run as lost, and only then are the attempt threads waited for.
        self._pool.shutdown(wait=False)
        deadline = time.monotonic() + _KILL_GRACE_SECONDS + 1
        while self._processes and time.monotonic() < deadline:
            time.sleep(0.05)
        self._forking.close()
        self._pool.shutdown(wait=True)
        self._supervisor.close()
        self._janitor.close()  # the last folders removed before close returns

    # -- one execution --------------------------------------------------------------------

    def _discard(self, folder: Path) -> None:
        """A succeeded attempt's folder: removed after its result is reported."""
        discard_later(folder, self._janitor.defer)

    def _execute(self, launch: StagedLaunch) -> ExecutionOutcome:
        try:
            return self._execute_logged(launch)
        finally:
            self._forget(launch.execution_id)
            remove_temporary(launch.mounts)

    def _forget(self, execution_id: str) -> None:
        """The execution ended: a later cancel of it is a no-op, and its id is not kept."""
        with self._lock:
            self._submitted.discard(execution_id)
            self._canceled.discard(execution_id)

    def _execute_logged(self, launch: StagedLaunch) -> ExecutionOutcome:
        with open(launch.log_path, "ab", buffering=0) as log:
            try:
                argv, environment, shape = self._prepare(launch, log)
                gpus = self._take_gpus(launch, log)
            except PinnaceError as exc:
                _write(log, f"pinnace: {exc}\n")
                return ExecutionOutcome(exit_code=-1, error=exc.message)
            if gpus is None:
                return ExecutionOutcome(exit_code=-1, error="canceled", environment=environment)
            try:
                return self._spawn(launch, argv, environment, log, gpus, shape)
            finally:
                if gpus and self._gpus is not None:
                    self._gpus.release(gpus)

    def _take_gpus(self, launch: StagedLaunch, log: IO[bytes]) -> list[str] | None:
        """The GPUs this execution gets ([] when it asks for none), None if canceled.

        As kfp's local runner, an accelerator this machine does not have (a TPU, or a GPU
        on a machine without any) is a Kubernetes scheduling setting: the log warns and the
        task runs without it.
        """
        count = launch.resources.accelerator_count or 0
        if count <= 0:
            return []
        kind = (launch.resources.accelerator_type or "").lower()
        if kind and "gpu" not in kind and "nvidia" not in kind:
            _write(log, f"pinnace: warning: ignoring accelerator {kind!r} (none here)\n")
            return []
        with self._lock:
            if self._gpus is None:
                self._gpus = GpuPool(discover_gpus())
        if not self._gpus.gpus:
            _write(log, f"pinnace: warning: ignoring the request for {count} GPU(s): none here\n")
            return []
        _write(log, f"pinnace: waiting for {count} GPU(s)\n")
        gpus = self._gpus.acquire(
            count, launch.task_name, lambda: self.was_canceled(launch.execution_id)
        )
        if gpus is not None:
            _write(log, f"pinnace: CUDA_VISIBLE_DEVICES={','.join(gpus)}\n")
        return gpus

    def _prepare(
        self, launch: StagedLaunch, log: IO[bytes]
    ) -> tuple[list[str], dict[str, Any], TaskProgram | None]:
        if launch.mounts and shutil.which("bwrap") is None:
            raise ExecutorError(
                "the task mounts volumes (kfp-kubernetes) and bwrap is not on this machine",
                hint="install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`)",
            )
        program = recognize_command(list(launch.command), list(launch.args))
        if program is None:
            argv = self._host_command(launch, log)
            if launch.mounts and Path(argv[0]).name in ENGINES:
                raise ExecutorError(
                    "a step run by a container engine does not mount kfp-kubernetes volumes yet",
                    hint="run it on this machine's Python (a lightweight component) instead",
                )
            return argv, {"image": launch.image, "host": True}, None
        env = self._environment(program, log)
        module = launch.workdir / "ephemeral_component.py"
        module.write_text(program.program_text, encoding="utf-8")
        python = str(env.python)
        if program.kind == "kfp-v2":
            argv = [
                python,
                "-m",
                RUNTIME_PACKAGE,
                "--component_module_path",
                str(module),
                *program.program_args,
            ]
        else:
            argv = [python, "-u", str(module), *program.program_args]
        info = {
            "python": python,
            "requirements": list(env.requirements),
            "key": env.key,
            **({"alias_of": env.alias_of} if env.alias_of else {}),
            "reused": env.reused,
            "image": launch.image,
        }
        return argv, info, task_program(program, env, self._use_current)

    def _environment(self, program: LightweightProgram, log: IO[bytes]) -> Environment:
        if self._use_current:
            _write(log, "pinnace: using the current interpreter (packages are not installed)\n")
            return self._envs.current()
        env = self._envs.ensure(program.packages, index_urls=program.index_urls)
        for fix in env.fixes:
            _write(log, f"pinnace: warning: {fix}\n")
        state = "reused" if env.reused else f"built in {env.build_seconds:.1f}s"
        listed = ", ".join(env.requirements) or "no packages"
        shared = f", the same installs as {env.alias_of}" if env.alias_of else ""
        _write(log, f"pinnace: environment {env.key} ({listed}) {state}{shared}\n")
        return env

    def _host_command(self, launch: StagedLaunch, log: IO[bytes]) -> list[str]:
        """A container component: in docker/podman when one answers, else on this machine."""
        argv = [*launch.command, *launch.args]
        probe = self._container_engine()
        if probe.engine is not None and launch.image:
            _write(log, f"pinnace: running image {launch.image!r} with {probe.engine}\n")
            return container_command(
                probe.engine,
                image=launch.image,
                command=launch.command,
                args=launch.args,
                workdir=launch.workdir,
                mounts=input_paths(launch.executor_input),
                env=launch.env,
                user=current_user(),
                name=f"pinnace-{launch.execution_id}",
            )
        if not argv:
            raise ExecutorError("the container has no command to run", task=launch.task_name)
        if shutil.which(argv[0]) is None:
            raise ExecutorError(
                f"needs the container image {launch.image!r}: no container engine answered "
                f"({probe.explain()}), and its program {argv[0]!r} is not on this machine",
                task=launch.task_name,
                hint="start docker or podman, write the step as a Python component, or "
                "install the program locally",
            )
        _write(
            log,
            f"pinnace: warning: image {launch.image!r} not used ({probe.explain()}); "
            f"running {argv[0]!r} on this machine\n",
        )
        return argv

    def _container_engine(self) -> EngineProbe:
        with self._lock:
            if self._probe is None:
                self._probe = probe_engines(self._engines)
            return self._probe

    def _task_env(
        self,
        cpu_limit: float | None,
        task_env: Mapping[str, str],
        gpus: list[str],
        managed: bool,
    ) -> tuple[dict[str, str], set[int] | None]:
        """The environment variables of a task's process (its cores are chosen at launch)."""
        # An allowlist: nothing else of this process (a server's secrets) reaches a step.
        env = allowed_variables(os.environ)
        if managed:
            # Pinnace's environments are built without bytecode (fast builds): the tasks
            # cache what they import, once, even where the driver's shell forbids it.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        # Each GPU task sees exactly its devices; other tasks see none.
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        threads: dict[str, str] = {}
        thread_settings(cpu_limit, threads)
        env.update(threads)
        env.update(task_env)
        # The runtime comes first; a PYTHONPATH the task itself sets (set_env_variable) stays.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self._runtime_path), task_env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        return env, None

    def _spawn(
        self,
        launch: StagedLaunch,
        argv: list[str],
        environment: dict[str, Any],
        log: IO[bytes],
        gpus: list[str],
        shape: TaskProgram | None,
    ) -> ExecutionOutcome:
        managed = shape is not None and shape.managed
        env, _ = self._task_env(launch.resources.cpu_limit, launch.env, gpus, managed)
        # As the shell of a KFP container (and of the supervision prefix) sets it.
        env["PWD"] = str(launch.workdir)
        home, tmp = task_folders(launch.workdir)
        for name, value in (("HOME", home), ("TMPDIR", tmp), ("TMP", tmp), ("TEMP", tmp)):
            if name not in launch.env:
                env[name] = str(value)
        canceled = ExecutionOutcome(exit_code=-1, error="canceled", environment=environment)
        if self.was_canceled(launch.execution_id):
            return canceled
        resources = launch.resources
        attempt = self._supervisor.contain(
            launch.execution_id, Limits(resources.memory_limit_bytes, resources.cpu_limit)
        )
        try:
            code = self._run_contained(launch, argv, env, log, shape, gpus, environment, attempt)
        finally:
            attempt.close()  # whatever the task left running dies with the execution
            with self._lock:
                self._processes.pop(launch.execution_id, None)
        if code is None:
            return canceled
        if isinstance(code, str):
            return ExecutionOutcome(exit_code=-1, error=code, environment=environment)
        error = _describe_exit(code, launch, self)
        if attempt.memory_exceeded:
            error = (
                f"exceeded its memory limit of {human_bytes(attempt.limits.memory_bytes or 0)} "
                f"(peak {human_bytes(attempt.peak_bytes)}); it was killed"
            )
            _write(log, f"pinnace: {error}\n")
            code = code or -signal.SIGKILL
        return ExecutionOutcome(exit_code=code, error=error, environment=environment)

    def _run_contained(
        self,
        launch: StagedLaunch,
        argv: list[str],
        env: dict[str, str],
        log: IO[bytes],
        shape: TaskProgram | None,
        gpus: list[str],
        environment: dict[str, Any],
        attempt: Containment,
    ) -> int | str | None:
        """Start the execution inside `attempt` and wait: its exit code, a reason it could not
        start, or None when it was canceled before starting."""
        if attempt.cores:
            _write(log, f"pinnace: cores {','.join(map(str, attempt.cores))}\n")
        # Outside the lock: forking may wait for the fork server's imports.
        process: subprocess.Popen[bytes] | ForkedChild | None = self._forking.fork(
            launch, argv, {**env, **attempt.env()}, shape, gpus, log, environment, attempt
        )
        with self._lock:
            if launch.execution_id in self._canceled:
                if process is not None:
                    attempt.kill()
                    process.wait()
                return None
            if process is None:
                try:
                    process = subprocess.Popen(
                        attempt.command(self._sandboxed(launch, argv, shape, gpus)),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        cwd=launch.workdir,
                        env={**env, **attempt.env()},
                        start_new_session=True,
                    )
                except OSError as exc:
                    return f"could not start {argv[0]}: {exc}"
                attempt.attach(process.pid)
            self._processes[launch.execution_id] = attempt
        self._report(launch.execution_id, attempt)
        code = process.wait()
        if isinstance(process, ForkedChild) and process.lost:
            _write(log, f"pinnace: {process.lost}\n")
            return None if self.was_canceled(launch.execution_id) else process.lost
        return code

    def _sandboxed(
        self,
        launch: StagedLaunch,
        argv: list[str],
        shape: TaskProgram | None,
        gpus: list[str],
    ) -> list[str]:
        """`argv` inside this executor's sandbox (when it has one): the step sees its
        interpreter, the runtime and its inputs read-only and its task folder read-write.
        Without a sandbox, a step with volumes runs in a mount namespace of its own that
        shows them at their mount paths (bwrap creates a missing mount point)."""
        if Path(argv[0]).name in ENGINES:
            return argv  # a container engine isolates the step itself
        if self._sandbox is None:
            if not launch.mounts:
                return argv
            binds = [
                (("--ro-bind" if m.read_only else "--bind"), m.source, m.target)
                for m in launch.mounts
            ]
            bwrap = shutil.which("bwrap") or "bwrap"
            return [bwrap, "--dev-bind", "/", "/", *(a for b in binds for a in b), "--", *argv]
        if shape is not None:
            program = python_paths(argv[0])
        else:
            executable, program = host_program(argv[0], os.environ.get("PATH"))
            argv = [executable, *argv[1:]]
        return self._sandbox.wrap(
            argv,
            workdir=launch.workdir,
            read_only=[*program, self._runtime_path, *input_paths(launch.executor_input)],
            devices=gpu_devices(gpus),
            mounts=launch.mounts,
        )

    def _report(self, execution_id: str, attempt: Containment) -> None:
        if self._on_process is None:
            return
        try:
            self._on_process(execution_id, attempt.identity())
        except Exception:  # the execution runs on; only its crash recovery is weaker
            _LOG.warning("cannot record the process of execution %s", execution_id, exc_info=True)

    def kill_leftover(self, process: Mapping[str, Any]) -> int:
        """Kill what survives of an earlier execution (recorded by `on_process`) after a crash."""
        return kill_leftover(process)

    def was_canceled(self, execution_id: str) -> bool:
        with self._lock:
            return execution_id in self._canceled


def _describe_exit(code: int, launch: StagedLaunch, executor: LocalExecutor) -> str | None:
    if code == 0:
        return None
    if executor.was_canceled(launch.execution_id):
        return "canceled"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else code
        return f"killed by signal {name}"
    reason = _failure_from_log(launch.log_path)
    if reason:
        return f"exited with code {code}: {reason}; see the task log"
    return f"exited with code {code}; see the task log"


_RUNTIME_FAILURE = re.compile(r"^pinnace runtime: component '[^']*' failed: (?P<reason>.+)$")
_EXCEPTION_LINE = re.compile(r"^(?P<reason>[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*)$")


def _failure_from_log(log_path: Path) -> str | None:
    """The component's exception as the runtime (or a traceback) reported it, if any."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for pattern in (_RUNTIME_FAILURE, _EXCEPTION_LINE):
        for line in reversed(lines):
            match = pattern.match(line.strip())
            if match:
                return match["reason"][:300]
    return None


def _write(log: IO[bytes], text: str) -> None:
    log.write(text.encode("utf-8", "replace"))
