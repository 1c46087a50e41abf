"""Fork servers seen from the executor: one process per task environment, forking a child per task.

A `ForkServer` is one running `python -m pinnace_runtime.forkserver` (see runtime/forkserver.py
for the protocol and what the child does) and the socket to it; a reader thread turns its
messages into `ForkedChild` handles, which look like `subprocess.Popen` to the executor (pid,
poll, wait). The pool of servers is in forkserver_pool.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime.forkserver import encode_request, recv_message, send_message, send_payload
from ._enclosure import host_pid_of
from ._netns import RESOLV_CONF
from ._sandbox import Sandbox
from .runtime_copy import RUNTIME_PACKAGE

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: how long a closed server may take to exit before its process group is killed
CLOSE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerSandbox:
    """A sandboxed fork server's sandbox (`Sandbox.wrap_server`): what it shows read-only
    (its interpreter and environment, the runtime) and the bases its children mount their
    task folders and inputs under."""

    sandbox: Sandbox
    read_only: tuple[Path, ...]
    bases: tuple[Path, ...]


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
    #: started inside a sandbox of its own, its children each in theirs (docs/fork-servers.md)
    sandbox: ServerSandbox | None = None


class ForkedChild:
    """A task process forked by a fork server; used like `subprocess.Popen` (pid, poll, wait)."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.pid = 0
        self.start_time: int | None = None
        self.returncode: int | None = None
        #: why the child's end is unknown (its fork server stopped), else None
        self.lost: str | None = None
        self._on_end: Callable[[], None] | None = None
        self._ended_normally = False
        self._end_lock = threading.Lock()
        self._started = threading.Event()
        self._ended = threading.Event()

    @property
    def on_end(self) -> Callable[[], None] | None:
        """Called once the child ended normally: by the reader thread as it ends, or at once
        when it is set after that (a fast task can end before its starter sets it)."""
        return self._on_end

    @on_end.setter
    def on_end(self, callback: Callable[[], None] | None) -> None:
        with self._end_lock:
            self._on_end = callback
            ended = self._ended_normally
        if ended and callback is not None:
            _call(callback)

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
        with self._end_lock:
            self._ended_normally = lost is None
            callback = self._on_end
        if lost is None and callback is not None:
            _call(callback)
        self._started.set()
        self._ended.set()


def _call(callback: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # learning is an optimisation only
        callback()


class ForkServerError(Exception):
    """The fork server could not be started or used (the task then starts fresh).

    `by_learned`: the modules earlier tasks imported made it unsafe (start it without them).
    """

    def __init__(self, message: str, *, by_learned: bool = False) -> None:
        super().__init__(message)
        self.by_learned = by_learned


class ForkServer:
    """One fork server process and its connection."""

    def __init__(
        self,
        spec: ServerSpec,
        modules: list[list[Any]],
        scratch: Path,
        learned: list[list[Any]] = (),  # type: ignore[assignment]
        on_spawn: Callable[[int], None] | None = None,
    ) -> None:
        """Start the server; it imports `modules`, then `learned` (what earlier tasks imported).

        `on_spawn` is called with the server's pid as soon as it runs, before its imports.
        """
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
        self._modules = {m for m, _ in [*modules, *learned]}
        self._output = scratch / f"server-{os.getpid()}-{id(self):x}.log"
        # Its own HOME and TMPDIR (each task gets its own in its folder; the server is shared).
        self._home = scratch / f"server-{os.getpid()}-{id(self):x}-home"
        (self._home / "tmp").mkdir(parents=True, exist_ok=True)
        tmp = str(self._home / "tmp")
        if spec.sandbox is not None:
            tmp = "/tmp"  # the private /tmp of its sandbox (the scratch is not in there)
        env = {**spec.env, "HOME": tmp if spec.sandbox else str(self._home), "TMPDIR": tmp}
        env.update(TMP=tmp, TEMP=tmp)
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._process = self._spawn(spec, theirs, scratch, env)
        self.pid = self._process.pid
        if on_spawn is not None and spec.sandbox is None:
            # (a sandboxed server is not niced: its pid is known only once it runs)
            on_spawn(self.pid)
        hello: dict[str, Any] = {
            "modules": modules,
            "packages": list(spec.packages),
            "runtime": spec.runtime,
            "learned": list(learned),
            "output": str(self._output),
        }
        if spec.sandbox is not None:
            hello.update(output=None, output_fd=1, sandboxed=True)
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
        if spec.sandbox is not None:  # its pid in its sandbox is not a host pid
            self.pid = host_pid_of(self._process.pid, int(ready.get("pid") or 0)) or self.pid
        if ready.get("unsafe"):
            self.close()
            raise ForkServerError(
                f"unsafe to fork: {ready['unsafe']}", by_learned=bool(ready.get("by_learned"))
            )
        self._reader = threading.Thread(
            target=self._read, name=f"pinnace-forkserver-{self.pid}", daemon=True
        )
        self._reader.start()

    def _spawn(
        self, spec: ServerSpec, theirs: socket.socket, scratch: Path, env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        argv = [spec.python, "-m", f"{RUNTIME_PACKAGE}.forkserver", str(theirs.fileno())]
        keep = [theirs.fileno()]
        resolv = None
        try:
            if spec.sandbox is not None:
                resolv_r, resolv_w = os.pipe()
                resolv = resolv_r
                os.write(resolv_w, RESOLV_CONF)
                os.close(resolv_w)
                keep.append(resolv_r)
                argv = spec.sandbox.sandbox.wrap_server(
                    argv,
                    read_only=spec.sandbox.read_only,
                    bases=spec.sandbox.bases,
                    resolv_fd=resolv_r,
                )
            # read back by a sandboxed server through its stdout (it cannot open the path)
            with open(self._output, "w+b") as output:
                return subprocess.Popen(
                    argv,
                    pass_fds=keep,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=scratch,
                    env=env,
                    start_new_session=True,
                )
        except Exception as exc:
            self._sock.close()
            raise ForkServerError(f"could not start {spec.python}: {exc}") from exc
        finally:
            theirs.close()
            if resolv is not None:
                os.close(resolv)

    # -- use --------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Running and still forking."""
        return self.retired is None and self.running

    @property
    def running(self) -> bool:
        """The server process has not exited."""
        return self._process.poll() is None

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
        learn: str | None = None,
        enclose: tuple[Mapping[str, Any], int] | None = None,
    ) -> ForkedChild:
        """Start a task in a forked child; ForkServerError when the server cannot.

        `supervision` is what the child enters before any task code runs
        (`Containment.child_spec()`, applied by `pinnace_runtime.confine.enter`); `learn`, a
        file where the child lists the modules it imported that the server had not;
        `enclose` (a sandboxed server), the child's sandbox and the control socket it gets.
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
            "learn": learn,
        }
        fds = [stdout]
        if enclose is not None:
            request["enclose"] = dict(enclose[0])
            fds.append(enclose[1])
        with self._lock:
            if not self.alive:
                raise ForkServerError(f"the fork server is gone ({self.retired or 'exited'})")
            self._children[execution_id] = child
        self.last_used = time.monotonic()
        try:
            with self._send_lock:
                send_payload(self._sock, encode_request(request), fds)
        except OSError as exc:
            with self._lock:
                self._children.pop(execution_id, None)
            raise ForkServerError(f"the fork server is gone: {exc}") from exc
        child._started.wait()
        if child.lost is not None and not child.pid:
            raise ForkServerError(child.lost)
        return child

    def preload(
        self,
        modules: list[list[Any]],
        learned: list[list[Any]] = (),  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """Import more of the environment's modules (between forks); the server's report."""
        with self._preload_lock:  # one at a time: the server answers them in order
            new = [m for m in modules if m[0] not in self._modules]
            new_learned = [m for m in learned if m[0] not in self._modules]
            if not new and not new_learned:
                return {}
            with self._lock:
                self._preload_reply = None
            message = {"op": "preload", "modules": new, "learned": new_learned}
            with self._send_lock:
                send_message(self._sock, message)
            with self._preloaded:
                self._preloaded.wait_for(
                    lambda: self._preload_reply is not None or self.retired is not None
                )
                reply = self._preload_reply or {"unsafe": self.retired}
            self._modules.update(m for m, _ in [*new, *new_learned])
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
        self.begin_close()
        self.finish_close(time.monotonic() + CLOSE_SECONDS)

    def begin_close(self) -> None:
        """Tell the server to end (its socket closed) without waiting for it: servers told
        together exit together (`ForkServerPool.close`); `finish_close` waits."""
        if self.retired is None:
            self.retired = "closed"
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def finish_close(self, deadline: float) -> None:
        """After `begin_close`: wait for the server to exit until `deadline` (monotonic
        clock), then kill its process group; its files are removed."""
        try:
            self._process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            if self.pid != self._process.pid:  # a sandboxed server: its own session
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            self._process.wait()
        with contextlib.suppress(OSError):
            self._output.unlink()
        shutil.rmtree(self._home, ignore_errors=True)

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
