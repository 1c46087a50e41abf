"""Supervised task processes: each attempt's whole process tree is contained, limited, killed.

    supervisor = Supervisor()                       # one per executor (per driving process)
    attempt = supervisor.contain(execution_id, Limits(memory_bytes=..., cpu_limit=1.5))
    process = subprocess.Popen(attempt.command(argv), env={**env, **attempt.env()}, ...)
    attempt.attach(process.pid)                     # or attempt.adopt(pid) for a running one
    ...  process.wait(); attempt.close()            # kills what is left: detached ones too

Containment is a cgroup per attempt where this process may create them (v1 or v2: the
memory and CPU limits then hold for the whole tree, and the tree is killed as one), else a
subreaper plus tracking through /proc: the driver becomes the subreaper of its tasks, and
every process of the attempt carries a marker variable, so a descendant that detached into
its own session is still found. Task processes die with the thread that started them
(PR_SET_PDEATHSIG). CPU limits get a CPU quota and cores chosen among the least busy.

A process forked by someone else (a fork server) enters an attempt by calling
`pinnace_runtime.confine.enter(attempt.child_spec())` in the child right after fork;
`command()` wraps an argv so that a fresh process does the same before it `exec`s.
`identity()` is what the metadata store records, so that a later attempt of the task (after
the driver crashed) can kill any survivor first: `kill_leftover(identity)` checks the
process id *and* its start time, then empties the attempt's group or marked processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _cgroups, _proctree
from ._cgroups import CgroupLayout
from ._janitor import Janitor

#: the variable every process of an attempt carries: `PINNACE_ATTEMPT=<execution id>`
MARKER = "PINNACE_ATTEMPT"
SUBREAPER = "subreaper"
_PR_SET_CHILD_SUBREAPER = 36
_WATCH_SECONDS = 0.1
_WATCHDOG = Path(__file__).resolve().parent / "_watchdog.py"
#: numbers the supervisors of this process (each executor has one; a process may hold many)
_INSTANCES = itertools.count()


@dataclass(frozen=True)
class Limits:
    """What an attempt may use: bytes of memory for the whole tree, cores of CPU time."""

    memory_bytes: int | None = None
    cpu_limit: float | None = None


class CoreAllocator:
    """Hands each CPU-limited attempt the least busy cores, so limited tasks spread out."""

    def __init__(self, cores: list[int] | None = None) -> None:
        available = cores if cores is not None else sorted(_affinity())
        self._load = {core: 0 for core in available}
        self._lock = threading.Lock()

    def take(self, count: int) -> list[int]:
        with self._lock:
            count = max(1, min(count, len(self._load)))
            chosen = sorted(self._load, key=lambda c: (self._load[c], c))[:count]
            for core in chosen:
                self._load[core] += 1
            return sorted(chosen)

    def give_back(self, cores: list[int]) -> None:
        with self._lock:
            for core in cores:
                if self._load.get(core, 0) > 0:
                    self._load[core] -= 1


class Supervisor:
    """Creates containments for attempts; one per driving process.

    `mode` None picks cgroups when this process can create them, else the subreaper;
    "cgroup1", "cgroup2" or "subreaper" asks for one (falling back to the subreaper).
    """

    def __init__(self, mode: str | None = None, janitor: Janitor | None = None) -> None:
        """`janitor` removes ended attempts' emptied groups off the caller's path (their
        processes are killed before `Containment.close` returns either way)."""
        self.layout = None if mode == SUBREAPER else _cgroups.detect(mode)
        self.janitor = janitor
        self.mode = self.layout.version if self.layout else SUBREAPER
        # "<pid>-<start ticks>-<n>": its groups are its own (another supervisor of this
        # process closing removes only its own), and a later start sweeps them by the pid
        self.owner = f"{os.getpid()}-{_proctree.start_ticks(os.getpid())}-{next(_INSTANCES)}"
        self.cores = CoreAllocator()
        self._groups: dict[str, Path] = {}
        if self.layout is not None:
            for key, own in self.layout.own.items():
                _sweep_stale(own / "pinnace")
                group = own / "pinnace" / self.owner
                group.mkdir(parents=True, exist_ok=True)
                if self.layout.version == _cgroups.CGROUP2:
                    _cgroups.enable_controllers(own / "pinnace")
                    _cgroups.enable_controllers(group)
                self._groups[key] = group
        else:
            become_subreaper()
        self._prefix = _exec_prefix()
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._watchdog_lock = threading.Lock()

    def contain(self, attempt_id: str, limits: Limits = Limits()) -> Containment:
        """The attempt's containment: its group in the tree's hierarchy (cgroup v1: memory;
        v2: the only one), and with a CPU limit, in the cpu hierarchy too (v1). An attempt
        without a CPU limit has no group of its own there: it would hold no quota, and each
        group a child joins is one more wait on the kernel's cgroup lock."""
        self.tell_watchdog(f"+{attempt_id}")
        folders: dict[str, Path] = {}
        if self.layout is not None:
            for key, group in self._groups.items():
                if key == "cpu" and not limits.cpu_limit:
                    continue
                folder = group / attempt_id
                with contextlib.suppress(FileExistsError):
                    folder.mkdir()
                folders[key] = folder
        return Containment(self, attempt_id, limits, folders)

    def tell_watchdog(self, line: str) -> None:
        """Tell the watchdog (started at the first attempt) an attempt started or ended.

        The watchdog outlives this process: when the pipe to it closes (this process died,
        kill -9 included), it kills what is left in this supervisor's groups or carries the
        marker of an attempt still running: detached descendants die with their driver too.
        """
        with self._watchdog_lock:
            if self._watchdog is None:
                spec = {"groups": [str(g) for g in self._groups.values()], "marker": MARKER}
                try:
                    self._watchdog = subprocess.Popen(
                        [sys.executable, "-I", "-S", str(_WATCHDOG), json.dumps(spec)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,  # no terminal signal reaches it
                    )
                except OSError:
                    return  # the next start's sweep cleans up instead
            try:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.write(line.encode() + b"\n")
                self._watchdog.stdin.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        """Kill whatever is still contained and remove this supervisor's groups."""
        if self.janitor is not None:
            self.janitor.flush()  # the ended attempts' groups go first
        with self._watchdog_lock:
            watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            with contextlib.suppress(OSError, ValueError):
                assert watchdog.stdin is not None
                watchdog.stdin.close()
            # Every attempt has ended: it finds nothing to kill, removes these groups (as
            # below) and exits. Nothing waits for that (a run's end did, ~5-10 ms); it is
            # reaped off this thread. Its groups are this supervisor's alone (`owner`).
            threading.Thread(
                target=watchdog.wait, name="pinnace-watchdog-reaper", daemon=True
            ).start()
        for group in self._groups.values():
            with contextlib.suppress(OSError):
                for child in group.iterdir():
                    if child.is_dir():
                        _cgroups.remove(child)
            with contextlib.suppress(OSError):
                group.rmdir()


class Containment:
    """One attempt's process tree: how to start it inside, watch it, and kill it whole."""

    def __init__(
        self, supervisor: Supervisor, attempt_id: str, limits: Limits, folders: dict[str, Path]
    ) -> None:
        self.attempt_id = attempt_id
        self.limits = limits
        self.root: int | None = None
        self.memory_exceeded = False
        self.peak_bytes = 0
        self._supervisor = supervisor
        self._layout: CgroupLayout | None = supervisor.layout
        self._folders = folders
        self._seen: dict[int, str] = {}  # subreaper mode: pid -> start ticks
        self._cores: list[int] = []
        self._on_exceeded: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None
        self._closed = False
        self._on_close: list[Callable[[], None]] = []
        self._apply_limits()

    # -- starting -------------------------------------------------------------------------

    def _apply_limits(self) -> None:
        limits, layout = self.limits, self._layout
        self._memory_by_group = bool(
            limits.memory_bytes
            and layout is not None
            and _cgroups.set_memory(layout, self._folders, limits.memory_bytes)
        )
        if limits.cpu_limit:
            if layout is not None:
                _cgroups.set_cpu(layout, self._folders, limits.cpu_limit)
            self._cores = self._supervisor.cores.take(math.ceil(limits.cpu_limit))

    @property
    def cores(self) -> list[int]:
        """The cores the attempt is pinned to ([] when it has no CPU limit)."""
        return list(self._cores)

    @property
    def uses_cgroups(self) -> bool:
        return bool(self._folders)

    def env(self) -> dict[str, str]:
        """Variables every process of the attempt must carry."""
        return {MARKER: self.attempt_id}

    def child_spec(self) -> dict[str, Any]:
        """What `pinnace_runtime.confine.enter` needs, JSON-serializable."""
        return {
            "procs": self._join_files(),
            "parent": os.getpid(),
            "pdeathsig": int(signal.SIGKILL),
            "cores": self._cores,
            "marker": [MARKER, self.attempt_id],
        }

    def command(self, argv: list[str]) -> list[str]:
        """`argv` started so that it first enters this attempt (same process id after exec).

        Uses `sh`, `taskset` and `setpriv` when present (no interpreter start-up), else the
        standard-library shim `pinnace_runtime.confine`.
        """
        prefix = self._supervisor._prefix
        if prefix is None:
            shim = Path(__file__).resolve().parent.parent / "runtime" / "confine.py"
            spec = json.dumps(self.child_spec())
            return [sys.executable, "-I", "-S", str(shim), spec, *argv]
        joins = self._join_files()
        pin = ["taskset", "-c", ",".join(map(str, self._cores))] if self._cores else []
        return [
            "/bin/sh",
            "-c",
            _JOIN_SCRIPT,
            "pinnace-attempt",
            str(len(joins)),
            *joins,
            *pin,
            *prefix,
            *argv,
        ]

    def _join_files(self) -> list[str]:
        """The files a starting process writes to join the attempt's groups.

        cgroup v1: each group's `tasks`, written "0" by the process itself while it has one
        thread (a fork's child, `sh`, the confine shim): the kernel then moves the calling
        thread without taking the global lock that a `cgroup.procs` write takes, which waits
        for an RCU grace period (~10 ms, more on a busy machine) each time. One thread moved
        is the whole process. v2: `cgroup.procs`, written its pid (its `cgroup.threads` is
        for threaded groups only).
        """
        name = (
            "tasks"
            if self._layout is not None and self._layout.version == _cgroups.CGROUP1
            else "cgroup.procs"
        )
        return [str(f / name) for f in self._folders.values()]

    def attach(self, pid: int, on_exceeded: Callable[[], None] | None = None) -> None:
        """`pid` (started by `command()`) is the attempt's root; watch its memory from now on.

        `on_exceeded` is called once when the tree goes over its memory limit (the tree has
        been killed by then).
        """
        self.root = pid
        self._seen[pid] = _proctree.start_ticks(pid)
        self._on_exceeded = on_exceeded
        if self.limits.memory_bytes:
            self._watch = threading.Thread(
                target=self._watch_memory, daemon=True, name=f"pinnace-watch-{pid}"
            )
            self._watch.start()

    def join_files(self) -> list[str]:
        """The files a process writes to join the attempt's groups (see `_join_files`)."""
        return self._join_files()

    def join(self, pid: int) -> None:
        """Move `pid` (one thread so far: a forked child in its own sandbox, which cannot
        write its groups' files itself) into the attempt's groups, from outside."""
        for folder in self._folders.values():
            fd = os.open(folder / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, str(pid).encode())
            finally:
                os.close(fd)

    def on_close(self, action: Callable[[], None]) -> None:
        """Run `action` when the attempt closes, after its tree was killed (its slirp4netns)."""
        self._on_close.append(action)

    def adopt(self, pid: int, on_exceeded: Callable[[], None] | None = None) -> None:
        """Bring an already running process (a warm interpreter) into this attempt."""
        for folder in self._folders.values():
            _cgroups.write(folder / "cgroup.procs", str(pid))
        if self._cores:
            for thread in _threads(pid):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(thread, self._cores)
        self.attach(pid, on_exceeded)

    def identity(self) -> dict[str, Any]:
        """What the metadata store keeps to find this attempt's processes after a crash."""
        root = self.root or 0
        return {
            "host": socket.gethostname(),
            "pid": root,
            "start_ticks": self._seen.get(root, ""),
            "groups": [str(f) for f in self._folders.values()],
            "marker": [MARKER, self.attempt_id],
            "supervisor": self._supervisor.owner,
        }

    # -- watching and ending --------------------------------------------------------------

    def pids(self) -> set[int]:
        """Every live process of the attempt (the root even before it joined its group)."""
        if self._folders:
            root = {self.root} if self.root and _proctree.is_running(self.root, "") else set()
            return _cgroups.procs(self._tree_folder()) | root
        tree = _proctree.descendants([*self._seen])
        for pid in tree - set(self._seen):
            self._seen[pid] = _proctree.start_ticks(pid)
        return tree

    def signal(self, signum: int) -> None:
        """Send `signum` to every process of the attempt (SIGTERM to ask it to stop)."""
        _proctree.signal_all(self.pids(), signum)

    def kill(self) -> None:
        """Kill the whole tree now, detached descendants included."""
        if self._folders:
            if self.root:
                _proctree.signal_all([self.root])  # it may not have joined its group yet
            for folder in self._folders.values():
                _cgroups.empty(folder)
            return
        for _ in range(50):
            doomed = self.pids() | _proctree.marked(MARKER, self.attempt_id)
            doomed.discard(os.getpid())
            if not doomed:
                break
            _proctree.signal_all(doomed)
            _proctree.reap(doomed - {self.root or 0})
            self._stop.wait(0.01)

    def close(self) -> None:
        """End the attempt: kill what is left of its tree and release its groups and cores."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(timeout=1)
        if self._folders and self._memory_by_group:
            self.peak_bytes = max(self.peak_bytes, self._group_peak())
            self._check_oom()
        self.kill()
        for action in self._on_close:
            with contextlib.suppress(Exception):
                action()
        self._supervisor.cores.give_back(self._cores)
        self._supervisor.tell_watchdog(f"-{self.attempt_id}")
        folders = list(self._folders.values())
        janitor = self._supervisor.janitor
        if janitor is not None and folders:
            janitor.defer(lambda: _remove_all(folders))  # emptied above: only the rmdir left
        else:
            _remove_all(folders)

    def _tree_folder(self) -> Path:
        assert self._layout is not None
        return self._folders[self._layout.tree_hierarchy]

    def _group_peak(self) -> int:
        assert self._layout is not None
        return _cgroups.peak_memory(self._layout, self._folders)

    def _check_oom(self) -> bool:
        assert self._layout is not None
        if not self.memory_exceeded and _cgroups.oom_kills(self._layout, self._folders) > 0:
            self.memory_exceeded = True
        return self.memory_exceeded

    def _watch_memory(self) -> None:
        limit = self.limits.memory_bytes or 0
        while not self._stop.wait(_WATCH_SECONDS):
            if self._memory_by_group:
                # The kernel holds the limit; one process killed for it fails the attempt.
                self.peak_bytes = max(self.peak_bytes, self._group_peak())
                over = self._check_oom()
            else:
                used = _proctree.resident_bytes(self.pids())
                self.peak_bytes = max(self.peak_bytes, used)
                over = used > limit
            if over:
                self.memory_exceeded = True
                self.kill()
                if self._on_exceeded is not None:
                    self._on_exceeded()
                return


def kill_leftover(identity: Mapping[str, Any]) -> int:
    """Kill what survives of an earlier attempt recorded as `identity()`; how many were killed.

    The root process is killed only if its start time matches (its pid may have been reused);
    processes in the attempt's group, or carrying its marker, belong to it by construction.
    Processes on another host are not ours to kill.
    """
    if not identity or identity.get("host") not in (None, socket.gethostname()):
        return 0
    doomed: set[int] = set()
    pid, ticks = int(identity.get("pid") or 0), str(identity.get("start_ticks") or "")
    if pid > 1 and ticks and _proctree.is_running(pid, ticks):
        doomed.add(pid)
    groups = [Path(g) for g in identity.get("groups") or ()]
    for group in groups:
        doomed |= _cgroups.procs(group)
    marker = identity.get("marker")
    if marker and not groups:
        doomed |= _proctree.marked(str(marker[0]), str(marker[1]))
    doomed.discard(os.getpid())
    _proctree.signal_all(doomed)
    for group in groups:
        _cgroups.remove(group)
    return len(doomed)


def _remove_all(folders: list[Path]) -> None:
    for folder in folders:
        _cgroups.remove(folder)


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (so they stay in reach)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


# `sh -c` script: join the groups named by $2..$(n+1), then exec the rest (same pid). A v1
# `tasks` file is written 0 (this thread: sh has one), a `cgroup.procs` file its pid.
_JOIN_SCRIPT = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do case "$1" in */tasks) v=0;; *) v=$$;; esac; '
    'echo $v > "$1" || exit 126; shift; n=$((n-1)); done; exec "$@"'
)


def _exec_prefix() -> list[str] | None:
    """The argv prefix that sets the parent-death signal, or None (use the Python shim)."""
    if shutil.which("setpriv") and shutil.which("taskset") and os.path.exists("/bin/sh"):
        return ["setpriv", "--pdeathsig", "KILL", "--"]
    return None


def _affinity() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def _threads(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return [pid]


def _sweep_stale(parent: Path) -> None:
    """Empty and remove the groups of supervisors whose process died (cleaned at next start)."""
    if not parent.is_dir():
        return
    for group in parent.iterdir():
        pid_text, _, rest = group.name.partition("-")
        ticks = rest.partition("-")[0]
        if not group.is_dir() or not pid_text.isdigit():
            continue
        if _proctree.is_running(int(pid_text), ticks):
            continue
        for attempt in [a for a in group.iterdir() if a.is_dir()]:
            _cgroups.remove(attempt)
        with contextlib.suppress(OSError):
            group.rmdir()
