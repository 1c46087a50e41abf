"""Fork servers seen from the executor: one process per task environment, forking a child per task.

A `ForkServer` is one running `python -m pinnace_runtime.forkserver` (see runtime/forkserver.py
for the protocol and what the child does) and the socket to it; a reader thread turns its
messages into `ForkedChild` handles, which look like `subprocess.Popen` to the executor (pid,
poll, wait). The pool of servers is in forkserver_pool.py.

The executor never depends on a server to answer: a task can stop its server (forked sandboxed
steps share its uid and PID namespace) and an import can hang. So every wait on a server has a
time limit (its imports, a fork's reply, a send), after which the server is killed and its
tasks in flight end as lost; each forked child's own process is watched (a pidfd on its host
pid), so its end is learned even when its server does not report it; and a server dies with
this process (a parent-death signal, see _lifeline.py).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime.framing import encode_request, recv_message, send_message, send_payload
from . import _lifeline, _proctree
from ._enclosure import host_pid_of
from ._netns import RESOLV_CONF
from ._sandbox import Sandbox
from .runtime_copy import RUNTIME_PACKAGE

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: how long a closed server may take to exit before its process group is killed
CLOSE_SECONDS = 5.0
#: how long a server may take to import its modules (at start, or a preload) before it is
#: taken for hung and killed (its tasks start fresh)
IMPORT_SECONDS = 600.0
#: how long a server may take to answer a fork request (or to take one) before it is killed
REPLY_SECONDS = 30.0
#: how long after a forked child's process ended its server may take to report it before it
#: is taken for stopped and killed (its tasks in flight end as lost)
REPORT_SECONDS = 5.0


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
        #: called with a reason when the child ended and its server did not report it
        self.on_unreported: Callable[[str], None] | None = None
        self._started = threading.Event()
        self._ended = threading.Event()
        #: the child's own process (`watch`): a pidfd, else its host pid and start time
        self._watch_lock = threading.Lock()
        self._pidfd: int | None = None
        self._watched: tuple[int, str] | None = None
        self._gone_at: float | None = None

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
        """The exit code, as the server reports it; without a report `REPORT_SECONDS` after
        the watched process ended, the server is given up (`on_unreported`): lost."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended.wait(_step(deadline)):
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"forked task {self.execution_id}", timeout or 0.0)
            self._check_gone()
        assert self.returncode is not None
        return self.returncode

    def watch(self, host_pid: int) -> None:
        """Watch the child's own process (`host_pid`, as this process sees it): `wait` learns
        it ended even when its server does not say so (stopped, hung)."""
        ticks = _proctree.start_ticks(host_pid)
        with self._watch_lock:
            if self._ended.is_set() or self._watched is not None:
                return
            self._watched = (host_pid, ticks)
            if not ticks or (
                self.start_time is not None and ticks != str(self.start_time)
            ):  # already ended (and reaped: its pid may name another process now)
                self._gone_at = time.monotonic()
                return
            with contextlib.suppress(OSError, AttributeError):  # no pidfd: /proc polled
                self._pidfd = os.pidfd_open(host_pid)

    def _check_gone(self) -> None:
        with self._watch_lock:
            if self._watched is None or self._ended.is_set():
                return
            if self._gone_at is None:
                if self._pidfd is not None:
                    gone = bool(select.select([self._pidfd], [], [], 0)[0])
                else:
                    gone = not _proctree.is_running(*self._watched)
                if gone:
                    self._gone_at = time.monotonic()
            late = self._gone_at is not None and time.monotonic() - self._gone_at >= REPORT_SECONDS
        if late and self.on_unreported is not None:
            self.on_unreported(
                f"the environment's fork server did not report the end of the task's process "
                f"(pid {self._watched[0]}) within {REPORT_SECONDS:g} s (stopped or hung): it "
                f"was killed, and the task's exit code is unknown"
            )

    def _set_started(self, pid: int, start_time: int | None) -> None:
        self.pid, self.start_time = pid, start_time
        self._started.set()

    def _set_ended(self, code: int, lost: str | None = None) -> None:
        with self._watch_lock:
            if self.returncode is not None:
                return
            self.returncode, self.lost = code, lost
        with self._end_lock:
            self._ended_normally = lost is None
            callback = self._on_end
        if lost is None and callback is not None:
            _call(callback)
        self._started.set()
        with self._watch_lock:
            self._ended.set()
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None


def _step(deadline: float | None) -> float:
    """How long `ForkedChild.wait` sleeps between two looks at the child's process."""
    if deadline is None:
        return 0.25
    return max(0.0, min(0.25, deadline - time.monotonic()))


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
        self._preloading = False
        self._preloaded_at = 0.0
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
        # A send to a stopped server fails instead of blocking once the socket is full.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(REPLY_SECONDS))
        self._sock.settimeout(IMPORT_SECONDS)
        try:
            send_message(self._sock, hello)
            ready, _ = recv_message(self._sock)
        except TimeoutError:
            self.close()
            raise ForkServerError(
                f"the fork server did not finish importing in {IMPORT_SECONDS:g} s: {self._tail()}"
            ) from None
        except OSError:
            ready = None
        if ready is None:
            self.close()
            raise ForkServerError(f"the fork server exited while importing: {self._tail()}")
        self._sock.settimeout(None)
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
            else:
                argv = [*_lifeline.death_prefix(), *argv]
            # read back by a sandboxed server through its stdout (it cannot open the path)
            with open(self._output, "w+b") as output:
                # from the long-lived thread: its parent-death signal fires when this
                # process ends, not when the thread asking for the server does
                return _lifeline.spawn(
                    lambda: subprocess.Popen(
                        argv,
                        pass_fds=keep,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        cwd=scratch,
                        env=env,
                        start_new_session=True,
                    )
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
        child.on_unreported = self._unreported
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
            self.abandon(f"the environment's fork server did not take a fork request: {exc}")
            raise ForkServerError(f"the fork server is gone: {exc}") from exc
        # Its answer may come after a preload under way (answered in order, bounded itself).
        while not child._started.wait(REPLY_SECONDS):
            if not self._preloading:
                self.abandon(
                    f"the environment's fork server did not answer a fork request in "
                    f"{REPLY_SECONDS:g} s (stopped or hung): it was killed"
                )
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
                self._preloading = True
            try:
                message = {"op": "preload", "modules": new, "learned": new_learned}
                with self._send_lock:
                    send_message(self._sock, message)
                answered = self._await_preload()
            finally:
                self._preloading = False
                self._preloaded_at = time.monotonic()
            if not answered:
                late = (
                    "was stopped" if self._stopped() else f"did not finish in {IMPORT_SECONDS:g} s"
                )
                self.abandon(
                    f"the environment's fork server {late} while importing (stopped or hung): "
                    f"it was killed"
                )
            with self._lock:
                reply = self._preload_reply or {"unsafe": self.retired}
            self._modules.update(m for m, _ in [*new, *new_learned])
            if reply.get("unsafe"):
                self.retired = f"unsafe to fork: {reply['unsafe']}"
            return reply

    def _await_preload(self) -> bool:
        """Wait for the preload's reply, at most `IMPORT_SECONDS`, or `REPORT_SECONDS` once
        the server is seen stopped (it imports nothing then); False when it did not come."""
        deadline = time.monotonic() + IMPORT_SECONDS
        stopped_at: float | None = None
        with self._preloaded:
            while self._preload_reply is None and self.retired is None:
                now = time.monotonic()
                if now >= deadline or (stopped_at and now - stopped_at >= REPORT_SECONDS):
                    return False
                self._preloaded.wait(min(1.0, deadline - now))
                if not self._stopped():
                    stopped_at = None
                elif stopped_at is None:
                    stopped_at = time.monotonic()
        return True

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

    def _unreported(self, reason: str) -> None:
        """A child ended `REPORT_SECONDS` ago unreported: the server is given up, unless it
        imports (a preload blocks its reports, and is bounded itself) or just did."""
        busy = self._preloading or time.monotonic() - self._preloaded_at < REPORT_SECONDS
        if busy and not self._stopped():
            return
        self.abandon(reason)

    def _stopped(self) -> bool:
        """Whether the server process is stopped (SIGSTOP, or traced): it imports nothing."""
        return _proctree.state(self.pid) in ("T", "t")

    def abandon(self, reason: str) -> None:
        """The server does not answer (stopped, hung): retire it, kill it (its children die
        with it), and end its children in flight as lost with `reason`."""
        with self._lock:
            if self.retired in (None, "closed"):
                self.retired = reason
            lost, self._children = list(self._children.values()), {}
            self._preloaded.notify_all()
        self._kill()
        for child in lost:
            child._set_ended(-int(signal.SIGKILL), reason)

    def _kill(self) -> None:
        """SIGKILL the server's process group (it works on a stopped process), and a sandboxed
        server's own process (its sandbox's session is not the group of `_process`)."""
        if self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        if self.pid and self.pid != self._process.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

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
            self._kill()
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
        if self.retired == "closed":
            reason = "the environment's fork server was stopped"
        elif self.retired is not None and not self.retired.startswith("unsafe"):
            reason = self.retired  # given up (`abandon`)
        else:
            reason = f"the environment's fork server exited (code {code}) while the task ran"
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


def _timeval(seconds: float) -> bytes:
    """`struct timeval` for SO_SNDTIMEO."""
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
