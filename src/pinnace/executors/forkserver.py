"""Fork servers seen from the executor: one process per task environment, forking a child per task.

A `ForkServer` is one running `python -m pinnace_runtime.forkserver` (see runtime/forkserver.py
for the protocol and what the child does) and the socket to it; a reader thread turns its
messages into `ForkedChild` handles, which look like `subprocess.Popen` to the executor (pid,
poll, wait). `ForkServerPool` keeps them by key (interpreter, environment, task environment
variables, CPU pinning): bounded in count and memory, closed when idle, started again after a
crash. Whoever forks from a server the pool has not started yet waits for its imports: the task
would have paid them in a fresh process anyway.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.forkserver import recv_message, send_message
from .runtime_copy import RUNTIME_PACKAGE

_START_TIMEOUT = 600.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: crashes of one key's server before its tasks start fresh for good
_MAX_CRASHES = 3


@dataclass(frozen=True)
class ServerSpec:
    """What a fork server is started with; servers are shared by `key`."""

    key: str
    #: the environment (interpreter + package set) whose imports the server gathers
    environment: str
    python: str
    env: Mapping[str, str]
    packages: tuple[str, ...] = ()
    runtime: bool = False


class ForkedChild:
    """A task process forked by a fork server; used like `subprocess.Popen` (pid, poll, wait)."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.pid = 0
        self.start_time: int | None = None
        self.returncode: int | None = None
        #: why the child's end is unknown (its fork server stopped), else None
        self.lost: str | None = None
        self._started = threading.Event()
        self._ended = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"forked task {self.execution_id}", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def _set_started(self, pid: int, start_time: int | None) -> None:
        self.pid, self.start_time = pid, start_time
        self._started.set()

    def _set_ended(self, code: int, lost: str | None = None) -> None:
        if self._ended.is_set():
            return
        self.returncode, self.lost = code, lost
        self._started.set()
        self._ended.set()


class ForkServerError(Exception):
    """The fork server could not be started or used (the task then starts fresh)."""


class ForkServer:
    """One fork server process and its connection."""

    def __init__(self, spec: ServerSpec, modules: list[list[Any]], scratch: Path) -> None:
        self.spec = spec
        self.report: dict[str, Any] = {}
        self.pid = 0
        self.last_used = time.monotonic()
        #: a server that must not fork again (unsafe after more imports, or dead)
        self.retired: str | None = None
        self._children: dict[str, ForkedChild] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._preload_lock = threading.Lock()
        self._preloaded = threading.Condition(self._lock)
        self._preload_reply: dict[str, Any] | None = None
        self._modules = {m for m, _ in modules}
        self._output = scratch / f"server-{os.getpid()}-{id(self):x}.log"
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with open(self._output, "wb") as output:
                self._process = subprocess.Popen(
                    [spec.python, "-m", f"{RUNTIME_PACKAGE}.forkserver", str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=scratch,
                    env=dict(spec.env),
                    start_new_session=True,
                )
        except OSError as exc:
            self._sock.close()
            raise ForkServerError(f"could not start {spec.python}: {exc}") from exc
        finally:
            theirs.close()
        self.pid = self._process.pid
        hello = {
            "modules": modules,
            "packages": list(spec.packages),
            "runtime": spec.runtime,
            "output": str(self._output),
        }
        self._reader: threading.Thread | None = None
        try:
            send_message(self._sock, hello)
            ready, _ = recv_message(self._sock)
        except OSError:
            ready = None
        if ready is None:
            self.close()
            raise ForkServerError(f"the fork server exited while importing: {self._tail()}")
        self.report = ready
        if ready.get("unsafe"):
            self.close()
            raise ForkServerError(f"unsafe to fork: {ready['unsafe']}")
        self._reader = threading.Thread(
            target=self._read, name=f"pinnace-forkserver-{self.pid}", daemon=True
        )
        self._reader.start()

    # -- use --------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.retired is None and self._process.poll() is None

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._children)

    def knows(self, modules: Sequence[Sequence[Any]]) -> bool:
        return all(m in self._modules for m, _ in modules)

    def fork(
        self,
        execution_id: str,
        *,
        kind: str,
        target: str,
        args: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        stdout: int,
        supervision: Mapping[str, Any],
    ) -> ForkedChild:
        """Start a task in a forked child; ForkServerError when the server cannot.

        `supervision` is what the child enters before any task code runs
        (`Containment.child_spec()`, applied by `pinnace_runtime.confine.enter`).
        """
        child = ForkedChild(execution_id)
        request = {
            "op": "fork",
            "id": execution_id,
            "kind": kind,
            "target": target,
            "args": list(args),
            "cwd": cwd,
            "env": dict(env),
            "supervision": dict(supervision),
        }
        with self._lock:
            if not self.alive:
                raise ForkServerError(f"the fork server is gone ({self.retired or 'exited'})")
            self._children[execution_id] = child
        self.last_used = time.monotonic()
        try:
            with self._send_lock:
                send_message(self._sock, request, [stdout])
        except OSError as exc:
            with self._lock:
                self._children.pop(execution_id, None)
            raise ForkServerError(f"the fork server is gone: {exc}") from exc
        child._started.wait()
        if child.lost is not None and not child.pid:
            raise ForkServerError(child.lost)
        return child

    def preload(self, modules: list[list[Any]]) -> dict[str, Any]:
        """Import more of the environment's modules (between forks); the server's report."""
        with self._preload_lock:  # one at a time: the server answers them in order
            new = [m for m in modules if m[0] not in self._modules]
            if not new:
                return {}
            with self._lock:
                self._preload_reply = None
            with self._send_lock:
                send_message(self._sock, {"op": "preload", "modules": new})
            with self._preloaded:
                self._preloaded.wait_for(
                    lambda: self._preload_reply is not None or self.retired is not None
                )
                reply = self._preload_reply or {"unsafe": self.retired}
            self._modules.update(m for m, _ in new)
            if reply.get("unsafe"):
                self.retired = f"unsafe to fork: {reply['unsafe']}"
            return reply

    def memory(self) -> dict[str, int]:
        """Resident and proportional set size in bytes (PSS counts shared pages once)."""
        found = {"rss": 0, "pss": 0}
        with contextlib.suppress(OSError, ValueError, IndexError):
            statm = Path(f"/proc/{self.pid}/statm").read_text().split()
            found["rss"] = int(statm[1]) * _PAGE
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    found["pss"] = int(line.split()[1]) * 1024
        return found

    def close(self) -> None:
        """End the server: closing its socket makes it kill its children and exit."""
        if self.retired is None:
            self.retired = "closed"
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        with contextlib.suppress(OSError):
            self._output.unlink()

    # -- the reader thread -------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                message, fds = recv_message(self._sock)
            except (OSError, ValueError):
                message, fds = None, []
            for fd in fds:
                os.close(fd)
            if message is None:
                break
            self._dispatch(message)
        code = self._process.wait()
        reason = (
            "the environment's fork server was stopped"
            if self.retired == "closed"
            else f"the environment's fork server exited (code {code}) while the task ran"
        )
        with self._lock:
            if self.retired is None:
                self.retired = reason
            lost, self._children = list(self._children.values()), {}
            self._preloaded.notify_all()
        for child in lost:
            child._set_ended(-int(signal.SIGKILL), reason)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "preloaded" in message:
            with self._preloaded:
                self._preload_reply = message
                self._preloaded.notify_all()
            return
        with self._lock:
            child = self._children.get(message.get("id", ""))
            if child is not None and "exit_code" in message:
                del self._children[child.execution_id]
        if child is None:
            return
        if "pid" in message:
            child._set_started(int(message["pid"]), message.get("start_time"))
        elif "exit_code" in message:
            child._set_ended(int(message["exit_code"]))

    def _tail(self) -> str:
        try:
            text = self._output.read_text(errors="replace").strip()
        except OSError:
            return "no output"
        return text[-500:] or "no output"


@dataclass
class _Slot:
    """A key's server, being started or running."""

    ready: threading.Event = field(default_factory=threading.Event)
    server: ForkServer | None = None
    failure: str | None = None


class ForkServerPool:
    """Fork servers by key: started on demand, bounded, evicted when idle, restarted after a crash.

    `max_servers` and `max_memory` (bytes of resident memory, all servers together) bound the
    pool: a new server first evicts idle ones (least recently used); `idle_seconds` closes a
    server nobody forked from for that long (None: kept until `close`).
    """

    def __init__(
        self,
        *,
        max_servers: int = 8,
        max_memory: int | None = None,
        idle_seconds: float | None = None,
        scratch: Path | None = None,
    ) -> None:
        """`scratch`: a folder for the servers' working folders and import output (temporary)."""
        self.max_servers = max(1, max_servers)
        self.max_memory = max_memory if max_memory is not None else _default_memory_budget()
        self.idle_seconds = idle_seconds
        self._slots: dict[str, _Slot] = {}
        #: environment -> every module its programs import, in order seen
        self._modules: dict[str, dict[str, list[str]]] = {}
        #: keys whose tasks start fresh, and why (unsafe to fork, crashing)
        self._unsafe: dict[str, str] = {}
        self._crashes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="pinnace-forkservers-", dir=scratch))
        self._reaper: threading.Thread | None = None
        if idle_seconds:
            self._reaper = threading.Thread(
                target=self._reap_idle, name="pinnace-forkserver-idle", daemon=True
            )
            self._reaper.start()

    def learn(self, environment: str, modules: Sequence[tuple[str, list[str]]]) -> list[list[Any]]:
        """Add a program's imports to its environment's; return the environment's modules."""
        with self._lock:
            known = self._modules.setdefault(environment, {})
            for module, names in modules:
                merged = known.setdefault(module, [])
                merged.extend(n for n in names if n not in merged)
            return [[m, list(n)] for m, n in known.items()]

    def unsafe_reason(self, key: str) -> str | None:
        with self._lock:
            return self._unsafe.get(key)

    def acquire(self, spec: ServerSpec, *, wait: bool = True) -> ForkServer | None:
        """The running server for `spec` (started if needed), None when tasks must start fresh.

        With `wait` False a missing server is started in the background and None returned.
        """
        with self._lock:
            if self._closed.is_set() or spec.key in self._unsafe:
                return None
            slot = self._slots.get(spec.key)
            if (
                slot is not None
                and slot.ready.is_set()
                and (slot.server is None or not slot.server.alive)
            ):
                self._forget(spec.key, slot)
                slot = None
            starting = slot is None
            if starting:
                slot = self._slots[spec.key] = _Slot()
        assert slot is not None
        if starting:
            if wait:
                self._start(spec, slot)
            else:
                threading.Thread(
                    target=self._start,
                    args=(spec, slot),
                    name="pinnace-forkserver-start",
                    daemon=True,
                ).start()
                return None
        elif not wait and not slot.ready.is_set():
            return None
        slot.ready.wait()
        server = slot.server
        if server is None or not server.alive:
            return None
        modules = self.learn(spec.environment, ())
        if not server.knows(modules):
            if not wait:
                threading.Thread(
                    target=self._preload, args=(spec.key, server, modules), daemon=True
                ).start()
                return None
            if not self._preload(spec.key, server, modules):
                return None
        return server

    def _preload(self, key: str, server: ForkServer, modules: list[list[Any]]) -> bool:
        """Have `server` import more of its environment's modules; False if now unsafe."""
        try:
            server.preload(modules)
        except OSError:
            return False
        if server.retired is not None:
            self._mark_unsafe(key, server.retired)
            return False
        return True

    def stats(self) -> list[dict[str, Any]]:
        """Each running server: key, pid, environment, memory, children in flight, import report."""
        with self._lock:
            servers = [s.server for s in self._slots.values() if s.server is not None]
        return [
            {
                "pid": s.pid,
                "environment": s.spec.environment,
                "python": s.spec.python,
                "in_flight": s.in_flight,
                **s.memory(),
                "imports_seconds": s.report.get("seconds"),
                "modules": s.report.get("modules"),
            }
            for s in servers
            if s.alive
        ]

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            slot.ready.wait(timeout=_START_TIMEOUT)
            if slot.server is not None:
                slot.server.close()
        with contextlib.suppress(OSError):
            for leftover in self._scratch.iterdir():
                leftover.unlink()
            self._scratch.rmdir()

    # -- internals ----------------------------------------------------------------------------

    def _start(self, spec: ServerSpec, slot: _Slot) -> None:
        try:
            self._make_room(spec.key)
            modules = self.learn(spec.environment, ())
            slot.server = ForkServer(spec, modules, self._scratch)
        except ForkServerError as exc:
            slot.failure = str(exc)
            self._mark_unsafe(spec.key, str(exc))
        except Exception as exc:  # never let a start failure escape: the task starts fresh
            slot.failure = f"{type(exc).__name__}: {exc}"
            self._mark_unsafe(spec.key, slot.failure)
        finally:
            slot.ready.set()
        if self._closed.is_set() and slot.server is not None:
            slot.server.close()
        else:
            self._make_room(spec.key)

    def _forget(self, key: str, slot: _Slot) -> None:
        """Drop a dead server (lock held); too many crashes and the key starts fresh."""
        del self._slots[key]
        server = slot.server
        if server is not None and server.retired not in (None, "closed"):
            retired = server.retired or ""
            if retired.startswith("unsafe"):
                self._unsafe[key] = retired
            else:
                self._crashes[key] = self._crashes.get(key, 0) + 1
                if self._crashes[key] >= _MAX_CRASHES:
                    self._unsafe[key] = f"its fork server crashed {_MAX_CRASHES} times"

    def _mark_unsafe(self, key: str, reason: str) -> None:
        with self._lock:
            self._unsafe[key] = reason
            slot = self._slots.pop(key, None)
        if slot is not None and slot.server is not None:
            server = slot.server
            # Children in flight finish; the server ends once it has none.
            threading.Thread(target=_close_when_idle, args=(server,), daemon=True).start()

    def _make_room(self, keep: str) -> None:
        """Evict idle servers, least recently used first, while over the bounds."""
        while True:
            with self._lock:
                running = [
                    (k, s.server)
                    for k, s in self._slots.items()
                    if s.server is not None and s.server.alive
                ]
                count = len(self._slots)
            memory = sum(server.memory()["rss"] for _, server in running)
            if count <= self.max_servers and memory <= self.max_memory:
                return
            idle = sorted(
                ((k, s) for k, s in running if k != keep and s.in_flight == 0),
                key=lambda item: item[1].last_used,
            )
            if not idle:
                return
            self._evict(*idle[0])

    def _evict(self, key: str, server: ForkServer) -> None:
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.server is server:
                del self._slots[key]
        server.close()

    def _reap_idle(self) -> None:
        assert self.idle_seconds is not None
        while not self._closed.wait(max(1.0, self.idle_seconds / 4)):
            now = time.monotonic()
            with self._lock:
                idle = [
                    (k, s.server)
                    for k, s in self._slots.items()
                    if s.server is not None
                    and s.server.in_flight == 0
                    and now - s.server.last_used > self.idle_seconds
                ]
            for key, server in idle:
                self._evict(key, server)


def _close_when_idle(server: ForkServer) -> None:
    while server.in_flight and server._process.poll() is None:
        time.sleep(0.1)
    server.close()


def _default_memory_budget() -> int:
    """A quarter of the machine's memory, at most 4 GiB, for all fork servers together."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return min(total // 4, 4 << 30)
