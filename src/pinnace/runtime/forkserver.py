"""A fork server: one interpreter per task environment, imports done, forking a child per task.

Started by the local executor as `python -m pinnace_runtime.forkserver FD` in a task
environment, with the environment variables its tasks get. FD is one end of a Unix socket.
The server reads one `hello` message (the modules to import), imports them, reports whether
it is safe to fork (one thread, no CUDA driver loaded) and then serves, single-threaded:

    executor -> server  {"op": "fork", "id", "kind": "module"|"script", "target", "args",
                         "cwd", "env", "supervision", "learn"} + the log's file descriptor(s)
                        {"op": "preload", "modules", "learned"}  (more of the environment's)
    server -> executor  {"ready"|"preloaded", "unsafe", "threads", ...}
                        {"id", "pid", "start_time"}  (the child is running)
                        {"id", "exit_code"}          (the child ended; negative: killed by signal)

Each message is an 8-byte length and a JSON document; file descriptors travel with the
length (SCM_RIGHTS). The child moves its stdio onto the passed descriptors, enters its
supervision (a new session, then `confine.enter`: the attempt's cgroups, a death signal tied to
the server, its cores, the attempt marker), its working folder and environment, and then
runs `python -m pinnace_runtime ...` or `python -u program.py ...` as a fresh interpreter
would: same sys.argv, sys.path[0], stdio, exit code and tracebacks; the component's module is
imported fresh in the child. The server never runs task code, so nothing a task does is seen
by the next. At exit a child lists the modules it imported that the server had not (in the
`learn` file), for the next servers. End of input (the executor closed or died) kills the
children still running and ends the server.

A spare: whenever it is idle, the server forks one child ahead, which starts its own session,
arms its death signal and waits for the next fork request; the request (and the log's
descriptors) is handed to it, so a task does not wait for the fork itself. A spare is
replaced after each import round (it must have what the server has) and dies unused with
the server.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from . import confine, enclose
from .framing import (
    Inbox,
    decode_request,
    recv_message,
    recv_payload,
    send_message,
    send_payload,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

_PR_SET_DUMPABLE = 4
#: a forked child that could not enter its supervision or working folder
EXIT_NOT_STARTED = 126
#: in a forked child: its exit status, working folder, and at exit the modules it added
_TASK: dict[str, Any] = {}
#: in the server, after each round of imports: the names in `sys.modules`, how many, the
#: last one. A child inherits them: building the set itself would touch every module name,
#: and each page touched after a fork is a page copied (about a millisecond per 300 modules)
_SNAPSHOT: dict[str, Any] = {"names": frozenset(), "count": 0, "last": None}


# -- the server ---------------------------------------------------------------------------------


class _Server:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbox = Inbox()
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, None)
        #: child pid -> (execution id, or None for the spare, pidfd)
        self.children: dict[int, tuple[str | None, int]] = {}
        #: the child forked ahead for the next request (pid, socket to it), if any
        self.spare: tuple[int, socket.socket] | None = None
        #: the spare's start time (`/proc/PID/stat`), read once it was forked
        self.spare_start: int | None = None
        self.spares = True
        #: the server's CPU priority when it forked the spare (the executor may renice the
        #: server afterwards: a server started ahead imports niced; a child inherits it)
        self.spare_priority = 0
        #: where the server's stdout and stderr go: what its imports print
        self.output_path: str | None = None
        #: or a descriptor open on it for reading too (a sandboxed server cannot open the path)
        self.output_fd: int | None = None
        self.preload_output = b""

    def loop(self) -> tuple[dict[str, Any], list[int]] | None:
        """Serve until end of input (None) or, in a forked child, return its request."""
        while True:
            events = self.selector.select(0 if self.spare is None and self.spares else None)
            if not events:  # idle: fork the next task's child ahead
                forked = self.make_spare()
                if forked is not None:
                    return forked
            for key, _events in events:
                if key.data is None:
                    message, fds = self.inbox.read(self.sock)
                    if message is None:
                        self.shutdown()
                        return None
                    try:
                        forked = self.handle(message, fds)
                    finally:
                        self.inbox.scrub()  # (in a forked child: its own copy, unused now)
                    if forked is not None:
                        return forked
                else:
                    self.reap(key.data)

    def handle(
        self, message: dict[str, Any], fds: list[int]
    ) -> tuple[dict[str, Any], list[int]] | None:
        """`message`: a fork request's envelope (the request stays in the inbox), or a
        whole message."""
        op = message.get("op")
        if op == "fork":
            return self.fork(message, fds)
        for fd in fds:
            os.close(fd)
        if op == "preload":
            self.drop_spare()  # it would lack what is imported now
            report = preload(message.get("modules", []), message.get("learned", []))
            self.preload_output = _captured_output(self.output_path, self.output_fd)
            send_message(self.sock, {"preloaded": True, **report})
        return None

    def fork(
        self, envelope: dict[str, Any], fds: list[int]
    ) -> tuple[dict[str, Any], list[int]] | None:
        """Fork (or hand to the spare) the request in the inbox; `envelope` is its id."""
        started = self.spare_start  # the spare's, read when it was forked
        pid = self.hand_to_spare(envelope, fds)
        if pid is None:
            _flush_stdio()
            server_pid = os.getpid()
            gc.freeze()  # the children's collections leave the server's objects (and pages) alone
            pid = os.fork()
            if pid == 0:
                request = decode_request(bytes(self.inbox.payload()))
                request["server_pid"] = server_pid
                self.close_in_child()
                return request, fds
            self.watch(pid, envelope["id"])
            started = start_time(pid)
        for fd in fds:
            os.close(fd)
        send_message(self.sock, {"id": envelope["id"], "pid": pid, "start_time": started})
        return None

    def hand_to_spare(self, envelope: dict[str, Any], fds: list[int]) -> int | None:
        """Give the request in the inbox, as it came, to the spare; its pid, or None (no
        spare, or it died)."""
        if self.spare is None:
            return None
        if _priority() != self.spare_priority:  # reniced since: the spare has the old one
            self.drop_spare()
            return None
        pid, to_spare = self.spare
        self.spare = None
        try:
            send_payload(to_spare, self.inbox.payload(), fds)  # type: ignore[arg-type]
        except OSError:
            return None  # it died (it is reaped as a spare); fork as usual
        finally:
            to_spare.close()
        _, pidfd = self.children[pid]
        self.children[pid] = (envelope["id"], pidfd)
        return pid

    def make_spare(self) -> tuple[dict[str, Any], list[int]] | None:
        """Fork the next task's child ahead; in that child, its request once it comes."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        _flush_stdio()
        server_pid = os.getpid()
        priority = _priority()  # before the fork: a renice after it does not reach the spare
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            self.spares = False  # tasks fork on request, as without spares
            return None
        if pid == 0:
            ours.close()
            self.close_in_child()
            return _wait_as_spare(theirs, server_pid)
        theirs.close()
        self.watch(pid, None)
        self.spare = (pid, ours)
        self.spare_start = start_time(pid)  # fixed at the fork: not read on a request's path
        self.spare_priority = priority
        return None

    def drop_spare(self) -> None:
        """End the spare: it reads end of input and exits (reaped as a spare)."""
        if self.spare is not None:
            self.spare[1].close()
            self.spare = None

    def watch(self, pid: int, execution_id: str | None) -> None:
        pidfd = os.pidfd_open(pid)
        self.children[pid] = (execution_id, pidfd)
        self.selector.register(pidfd, selectors.EVENT_READ, pid)

    def close_in_child(self) -> None:
        """In a new child: drop the server's descriptors (the others' pidfds, the sockets)."""
        for _, pidfd in self.children.values():
            os.close(pidfd)
        if self.spare is not None:
            self.spare[1].close()
        self.selector.close()
        self.sock.close()

    def reap(self, pid: int) -> None:
        execution_id, pidfd = self.children.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        if execution_id is None:  # a spare that ended unused
            if self.spare is not None and self.spare[0] == pid:
                self.drop_spare()
            return
        send_message(
            self.sock, {"id": execution_id, "exit_code": os.waitstatus_to_exitcode(status)}
        )

    def shutdown(self) -> None:
        """The executor is gone: kill what still runs (each child leads its own group)."""
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (`/proc/PID/stat` field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


# -- what the server imports ------------------------------------------------------------------


def preload(modules: list[list[Any]], learned: list[list[Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Import `[[module, [names]], ...]`, then the modules earlier tasks imported (`learned`).

    Failures are left for the task to meet and report. The report says whether forking is
    still safe, and if not, whether the learned modules made it unsafe.
    """
    import time

    started = time.perf_counter()
    failed = _import_all(modules)
    unsafe = unsafe_reason()
    by_learned = False
    if unsafe is None and learned:
        with _silenced():  # a learned import's output is no task's (see _silenced)
            failed += _import_all(learned)
        unsafe = unsafe_reason()
        by_learned = unsafe is not None
    _SNAPSHOT.update(
        names=frozenset(sys.modules), count=len(sys.modules), last=next(reversed(sys.modules))
    )
    return {
        "seconds": time.perf_counter() - started,
        "failed": failed,
        "threads": threading.active_count(),
        "unsafe": unsafe,
        "by_learned": by_learned,
        "modules": len(sys.modules),
    }


def _import_all(modules: list[list[Any]]) -> list[str]:
    import importlib

    failed = []
    for module, names in modules:
        try:
            imported = importlib.import_module(module)
            for name in names:
                if not hasattr(imported, name):  # `from package import submodule`
                    with contextlib.suppress(Exception):
                        importlib.import_module(f"{module}.{name}")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failed.append(module)
    return failed


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """stdout and stderr (the file descriptors, so C code's output too) on /dev/null.

    Learned modules were imported by some earlier task, not necessarily by the next one: what
    they print while they import would otherwise be written at the top of every later task's
    log (`import this` in one step put the Zen of Python in all the others')."""
    _flush_stdio()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        _flush_stdio()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def _priority() -> int:
    """This process's nice value (the executor renices a server started ahead)."""
    return os.getpriority(os.PRIO_PROCESS, 0)


def new_modules() -> list[str]:
    """The names in `sys.modules` the server did not have, in import order.

    Entries are only ever appended, so when the task removed none of the server's, the new
    ones are those after the server's last: only they are touched (see `_SNAPSHOT`).
    Otherwise (or if a thread imports meanwhile) the whole table is compared, in C.
    """
    names, last = _SNAPSHOT["names"], _SNAPSHOT["last"]
    added: list[str] = []
    try:
        for name in reversed(sys.modules):
            if name == last:
                if len(sys.modules) - len(added) == _SNAPSHOT["count"]:
                    return [n for n in reversed(added) if n not in names]
                break
            added.append(name)
    except RuntimeError:  # changed size during iteration
        pass
    new = sys.modules.keys() - names
    return [n for n in list(sys.modules) if n in new] if new else []


def imported_by_task() -> list[list[Any]]:
    """The importable modules the task imported that the server had not (its own files aside)."""
    prefix = os.path.join(_TASK["cwd"], "")
    found = []
    for name in _TASK["new"]:
        module = sys.modules.get(name)
        if module is None or name == "__main__":
            continue
        spec = getattr(module, "__spec__", None)
        if spec is None or spec.name != name:
            continue  # made at run time, not imported
        origin = getattr(spec, "origin", None) or ""
        if origin.startswith(prefix) or name.split(".")[0] == __package__:
            continue
        found.append([name, []])
    return found


def declared_modules(distributions: list[str]) -> list[list[Any]]:
    """The top-level modules of the environment's declared packages (scikit-learn: sklearn)."""
    if not distributions:
        return []  # importlib.metadata alone is a third of a bare server's start-up
    from importlib import metadata

    found: list[list[Any]] = []
    for name in distributions:
        try:
            dist = metadata.distribution(name)
        except Exception:
            continue
        text = dist.read_text("top_level.txt") or ""
        tops = [line.strip() for line in text.splitlines() if line.strip()]
        if not tops:
            tops = sorted(
                {
                    str(f).split("/")[0].removesuffix(".py")
                    for f in dist.files or ()
                    if str(f).endswith(".py") and ".dist-info" not in str(f)
                }
            )
        found.extend([top, []] for top in tops if top.isidentifier() and not top.startswith("_"))
    return found


def unsafe_reason() -> str | None:
    """Why forking this process would not give a sound child, or None."""
    threads = threading.active_count()
    if threads > 1:
        return f"its imports started {threads - 1} thread(s)"
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            if any("libcuda.so" in line for line in f):
                return "its imports loaded the CUDA driver"
    except OSError:
        pass
    return None


# -- the child --------------------------------------------------------------------------------


def become(request: dict[str, Any], fds: list[int], preload_output: bytes) -> None:
    """Turn this forked child into the task's fresh interpreter, then run the task.

    A sandboxed server's request carries `enclose` (the child's sandbox, runtime/enclose.py)
    and, as its last descriptor, the control socket to the executor: the child enters its
    own sandbox before anything of the task runs, or exits (`EXIT_NOT_ENCLOSED`).
    """
    gc.enable()
    _TASK.update(status=0, cwd=request["cwd"], learn=request.get("learn"))
    control = None
    if request.get("enclose") is not None:
        control = socket.socket(fileno=fds.pop()) if len(fds) > 1 else None
    _stdio(fds, preload_output)
    try:
        enter_supervision(
            request.get("supervision") or {},
            request["server_pid"],
            new_session=not request.get("spare"),
        )
        if request.get("enclose") is not None:
            _enclose(control, request["enclose"])
        os.chdir(request["cwd"])
    except Exception as exc:  # the task never started: say why in its log
        if control is not None:
            enclose.fail(control, str(exc))
            os.write(2, f"pinnace: the step's sandbox could not be set up: {exc}\n".encode())
            os._exit(enclose.EXIT_NOT_ENCLOSED)
        os.write(2, f"pinnace: the fork server could not start the task: {exc!r}\n".encode())
        os._exit(EXIT_NOT_STARTED)
    for name in list(os.environ):  # as clear(), without its quadratic popitem loop
        del os.environ[name]
    os.environ.update(request["env"])
    _reseed()
    import importlib

    importlib.invalidate_caches()
    if request["kind"] == "module":
        _run_module(request["target"], request["args"], request["cwd"])
    else:
        _run_script(request["target"], request["args"])


def _enclose(control: socket.socket | None, spec: dict[str, Any]) -> None:
    """Enter the child's own sandbox, then close the channel.

    The child is made dumpable first, as a fresh process is (its server is not, so that no
    task can read it): a process that is not may not write its own /proc/self/uid_map, nor
    read its own /proc/self/environ (its /proc entries belong to root).
    """
    if control is None:
        raise enclose.EncloseError("no control channel came with the request")
    confine.prctl()(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    enclose.enter(control, spec)
    control.close()


def enter_supervision(
    supervision: dict[str, Any], server_pid: int, *, new_session: bool = True
) -> None:
    """Its own session (as a fresh task's), then the attempt's supervision (confine.enter).

    The child's parent is the server: its death signal fires when the server dies. A spare
    started its session while it waited (`new_session` False).
    """
    if new_session:
        os.setsid()
    confine.enter({**supervision, "parent": server_pid})


def _wait_as_spare(sock: socket.socket, server_pid: int) -> tuple[dict[str, Any], list[int]]:
    """A spare: its own session and death signal now, then wait for its task's request.

    Exits when the server ends it (end of input) or is already gone.
    """
    os.setsid()
    confine.prctl()(confine.PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != server_pid:
        os._exit(0)  # the server died before the death signal was armed
    try:
        payload, fds = recv_payload(sock)
    except OSError:
        payload, fds = None, []
    sock.close()
    if payload is None:
        os._exit(0)
    request = decode_request(payload)
    request["server_pid"] = server_pid
    request["spare"] = True
    return request, fds


def _stdio(fds: list[int], preload_output: bytes) -> None:
    """stdin from /dev/null, stdout and stderr onto the passed descriptors (the task's log)."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out = fds[0]
    err = fds[1] if len(fds) > 1 else out
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    if preload_output:
        os.write(2, preload_output)  # what importing printed: a fresh task would print it too


def _reseed() -> None:
    """Random state a fresh process would draw anew (the stdlib's `random` reseeds itself),
    and the temporary folder it would find (its own TMPDIR, not the server's)."""
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # type: ignore[attr-defined]
    numpy_random = sys.modules.get("numpy.random")
    seed = getattr(numpy_random, "seed", None)
    if callable(seed):
        seed()


def _run_module(name: str, args: list[str], cwd: str) -> None:
    """As `python -m name args`: runpy's public entry, `__main__` and sys.argv[0] set."""
    import runpy

    if _prepends():
        sys.path.insert(0, cwd)
    sys.argv = ["-m", *args]
    try:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        _TASK["status"] = _exit_status(exc.code)
        raise
    except BaseException as exc:  # reported as the interpreter would
        _uncaught(exc)


def _run_script(path: str, args: list[str]) -> None:
    """As `python -u path args`: a fresh `__main__` runs the file's code."""
    import runpy

    if _prepends():
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.argv = [path, *args]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        _TASK["status"] = _exit_status(exc.code)
        raise
    except BaseException as exc:  # reported as the interpreter would
        _uncaught(exc)


def _prepends() -> bool:
    """Whether the interpreter puts the script's (or -m's working) folder first on sys.path."""
    return not getattr(sys.flags, "safe_path", False)


def _uncaught(exc: BaseException) -> None:
    """Print the traceback without the frames of this module and runpy, exit 1."""
    tb = exc.__traceback__
    while tb is not None and (
        tb.tb_frame.f_code.co_filename == __file__ or "runpy" in tb.tb_frame.f_code.co_filename
    ):
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    _TASK["status"] = 1
    sys.exit(1)


def _exit_status(code: object) -> int:
    """The status the interpreter exits with for `SystemExit(code)`."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _finish() -> None:
    """In a forked child, the last exit handler: end as a fresh interpreter would, sooner.

    Registered before any import, so it runs after every other exit handler (the task's and
    its libraries'), once non-daemon threads have ended. It finalizes what the task itself
    loaded (its component module: unclosed files are flushed), flushes stdio and exits,
    skipping the teardown of the server's modules: in a forked child that would copy every
    page of them (hundreds of milliseconds with pandas loaded) to no visible effect.
    The server itself skips that teardown too: the executor waits for it to exit when a
    run ends (~100 ms a server with pandas and scikit-learn loaded).
    """
    status = _TASK.get("status")
    if status is None:  # the server itself: it ran no user code, only imports
        _flush_stdio()
        os._exit(0)
    _TASK["new"] = new_modules()
    learn = _TASK.get("learn")
    if learn:
        with contextlib.suppress(Exception):
            found = imported_by_task()
            if found:  # nothing new (the usual case): no file; the executor finds none
                with open(learn, "w") as f:
                    json.dump(found, f)
    prefix = os.path.join(_TASK["cwd"], "")
    for name in _TASK["new"]:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None) or ""
        if path.startswith(prefix):
            with contextlib.suppress(Exception):
                module.__dict__.clear()
    gc.collect()
    _flush_stdio()
    os._exit(status)


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


# -- entry point ------------------------------------------------------------------------------


def serve(fd: int) -> None:
    """Run the server on socket `fd`; returns in a forked child after it ran its task."""
    sock = socket.socket(fileno=fd)
    hello, fds = recv_message(sock)
    for extra in fds:
        os.close(extra)
    if hello is None:
        return
    if sys.platform.startswith("linux"):
        confine.prctl()  # found once here: the children arm their death signal with it
    if hello.get("sandboxed"):
        # Its tasks (same user) must not read or trace it; libc loaded once for them all.
        confine.prctl()(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        enclose._libc()
    modules = [*declared_modules(hello.get("packages", [])), *hello.get("modules", [])]
    if hello.get("runtime"):
        _preload_runtime()
    report = preload(modules, hello.get("learned", []))
    server = _Server(sock)
    server.output_path = hello.get("output")
    server.output_fd = hello.get("output_fd")
    server.preload_output = _captured_output(server.output_path, server.output_fd)
    send_message(sock, {"ready": True, "pid": os.getpid(), **report})
    if report["unsafe"] is not None:
        return
    forked = server.loop()
    if forked is not None:
        request, child_fds = forked
        become(request, child_fds, server.preload_output)


def _preload_runtime() -> None:
    """The KFP executor itself, and `kfp` (the real one when installed, else the stand-in)."""
    import importlib

    package = __package__ or __name__.rpartition(".")[0]
    importlib.import_module(f"{package}.main")
    standin = importlib.import_module(f"{package}.kfp_standin")
    with contextlib.suppress(Exception):  # the task meets it again and reports it
        standin.install_kfp()


def _captured_output(path: str | None, fd: int | None = None) -> bytes:
    """What the imports printed (the executor points the server's stdio at `path`, or at a
    file it passed open for reading and writing as `fd`)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    if fd is not None:
        try:
            return os.pread(fd, 1 << 16, 0)
        except OSError:
            return b""
    if not path:
        return b""
    try:
        with open(path, "rb") as f:
            return f.read(1 << 16)
    except OSError:
        return b""


def main() -> None:
    import atexit

    atexit.register(_finish)  # first registered, last run
    gc.disable()  # no collections while importing: fewer holes in pages the children share
    if not getattr(sys.flags, "safe_path", False) and sys.path:
        del sys.path[0]  # the server's folder: the task's own takes this place in the child
    serve(int(sys.argv[1]))


if __name__ == "__main__":
    main()
