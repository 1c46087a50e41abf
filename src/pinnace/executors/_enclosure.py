"""The executor's side of a forked sandboxed step: its host pid, cgroups, network and folders.

A sandboxed fork server's child enters a sandbox of its own before any task code runs
(runtime/enclose.py). On the control socket sent with its fork request it says "ready" with
its credentials; the kernel gives its pid as seen here (the server's pid namespace numbers
mean nothing outside). The executor then, from outside the sandbox:

- started by root, maps the child's user namespace: its uid and gid 65534 there (nobody, as
  a fresh step) are `step_id(host pid)` on the host, ids of this attempt alone, so the step
  can signal, trace or inspect no other process (its server, its owner's other steps),
- joins the pid to the attempt's cgroups (the child cannot: /sys is read-only in there),
- for an isolated step network, attaches slirp4netns to /proc/PID/ns/net
  (`--disable-host-loopback`), stopped when the attempt closes,
- clones the task folder and each input with `open_tree` (read-only, nosuid and nodev set
  on the clone with `mount_setattr` before it leaves this process) and sends the mounts,
  which the child attaches at their host paths. With the attempt's own ids each clone is
  also idmapped through the child's user namespace: host files of nobody (the task folder,
  handed over as for a fresh step, and earlier steps' outputs) are the step's own in there,
  and what it writes is nobody's on disk. Its files read exactly as a fresh step's would.

The child answers "sealed" once it dropped every capability; anything else fails the
attempt's fork (`EnclosureError`) and the child exits without running task code.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..runtime.enclose import FAILED, MAX_MOUNTS, READY, SEALED, STEP_ID
from ..runtime.framing import send_message
from ._sandbox import HOST_NETWORK, ISOLATED
from ._supervision import Containment

_SYS_OPEN_TREE, _SYS_MOUNT_SETATTR = 428, 442
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 0x1, os.O_CLOEXEC
_AT_SYMLINK_NOFOLLOW, _AT_EMPTY_PATH, _AT_FDCWD = 0x100, 0x1000, -100
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
_MOUNT_ATTR_IDMAP = 0x100000
_CREDENTIALS = struct.Struct("iII")
#: the first of the host uids and gids given to forked sandboxed attempts: an attempt's are
#: STEP_ID_BASE + its host pid (pids are unique among live processes and stay below pid_max,
#: at most 2**22). The range [2**31 + 2**24, 2**31 + 2**24 + 2**22] lies far above regular
#: users, subordinate ranges (shadow's default SUB_UID_MAX is 600100000) and systemd's
#: container (≤ 0x6FFFFFFF) and foreign (0x7FFE0000-0x7FFEFFFF) ranges, below (uid_t) -2.
#: Files keep nobody's ids on disk (the mounts are idmapped), so an id given again later
#: finds none of its own. (A leader's pid is free again while its leftovers still run, until
#: the attempt closes and kills them: a new attempt would need the pids to wrap meanwhile.)
STEP_ID_BASE = 2**31 + 2**24
#: how long a child may take to say "ready", and then "sealed" (it runs no task code before)
_TIMEOUT_SECONDS = 30.0


class EnclosureError(Exception):
    """The forked child's sandbox could not be set up (it ran no task code).

    `host_pid`: the child's, once known (it exits on its own, having said why in its log;
    whoever waits for it kills it if it does not).
    """

    host_pid = 0


@dataclass(frozen=True)
class Enclosure:
    """Where a sandboxed fork server's children find their folders, and their network."""

    #: empty folders in the server's sandbox under which task folders and inputs lie
    bases: tuple[Path, ...]
    #: the step network ("isolated", "none", "host")
    network: str
    slirp: str | None = None
    #: give each attempt host ids of its own (root only: it maps its children's namespaces)
    own_ids: bool = field(default_factory=lambda: os.geteuid() == 0)

    def child_spec(self) -> dict[str, Any]:
        """What the child's `enclose.enter` needs."""
        return {
            "bases": [str(b) for b in self.bases],
            "network": self.network != HOST_NETWORK,
            "mapped": self.own_ids,
        }


@dataclass(frozen=True)
class PlannedMount:
    source: Path
    target: Path
    read_only: bool
    is_dir: bool


def plan_mounts(
    workdir: Path, inputs: Iterable[str], bases: Sequence[Path]
) -> list[PlannedMount] | str:
    """The task folder (read-write) and inputs (read-only) a child mounts, or why it cannot
    fork (a path outside the bases, too many inputs). As in a fresh sandbox, a missing input
    is left out, and so is one inside the task folder or another input (already shown)."""
    workdir = Path(os.path.abspath(workdir))
    planned = [_planned(workdir, workdir, read_only=False)]
    for name in sorted({os.path.abspath(p) for p in inputs}):
        target = Path(name)
        if not os.path.exists(target) or target == workdir or workdir in target.parents:
            continue
        if target in workdir.parents:
            return f"an input ({target}) holds the task folder"
        if any(m.is_dir and m.target in target.parents for m in planned[1:]):
            continue
        planned.append(_planned(target, workdir, read_only=True))
    if len(planned) > MAX_MOUNTS:
        return f"more than {MAX_MOUNTS - 1} inputs"
    real_bases = [Path(os.path.realpath(b)) for b in bases]
    for mount in planned:
        for path, under in ((mount.target, bases), (mount.source, real_bases)):
            if not any(base in path.parents for base in under):
                return f"{path} lies outside the folders a sandboxed fork server serves"
    return planned


def _planned(target: Path, workdir: Path, *, read_only: bool) -> PlannedMount:
    source = Path(os.path.realpath(target))
    return PlannedMount(source, target, read_only, source.is_dir())


@dataclass
class Enclosed:
    """A child that entered its sandbox: its host pid."""

    host_pid: int


def open_channel() -> tuple[socket.socket, socket.socket]:
    """(ours, the child's): ours receives the child's credentials."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return ours, theirs


def enclose(
    control: socket.socket,
    *,
    ns_pid: int,
    enclosure: Enclosure,
    mounts: Sequence[PlannedMount],
    attempt: Containment,
    timeout: float = _TIMEOUT_SECONDS,
) -> Enclosed:
    """Run the executor's side of the handshake (see the module docstring).

    `ns_pid` is the child's pid as its server reported it (checked against the kernel's
    translation). Raises EnclosureError on failure: the child then exits without running
    task code.
    """
    control.settimeout(timeout)
    host_pid = 0
    userns: int | None = None
    try:
        host_pid = _await_ready(control, ns_pid)
        if enclosure.own_ids:
            userns = give_ids(host_pid, step_id(host_pid))
        groups = attempt.join_files()
        if not all(g.endswith("/tasks") for g in groups):  # cgroup v2: its pid, from here
            try:
                attempt.join(host_pid)
            except OSError as exc:
                raise EnclosureError(f"cannot join the attempt's cgroups: {exc}") from exc
            groups = []
        if enclosure.network == ISOLATED and enclosure.slirp:
            stop, problem = attach_network(enclosure.slirp, host_pid)
            if stop is None:
                raise EnclosureError(f"cannot give the step its network: {problem}")
            attempt.on_close(stop)
        _send_mounts(control, mounts, groups, userns)
        reply = _receive(control)
        if reply != SEALED:
            raise EnclosureError(_why(reply))
    except (OSError, EnclosureError) as exc:
        failure = exc if isinstance(exc, EnclosureError) else None
        if failure is None:
            failure = EnclosureError(f"the control channel failed: {exc}")
        failure.host_pid = host_pid
        raise failure from (None if failure is exc else exc)
    finally:
        control.close()  # a child still waiting reads the end, says so, and exits
        if userns is not None:
            os.close(userns)
    return Enclosed(host_pid)


def step_id(host_pid: int) -> int:
    """The host uid and gid of the forked sandboxed attempt whose child is `host_pid`."""
    return STEP_ID_BASE + host_pid


def give_ids(host_pid: int, host_id: int) -> int:
    """Map uid and gid STEP_ID of `host_pid`'s (fresh, unmapped) user namespace to
    `host_id`; its user namespace, open (for idmapped clones). Needs CAP_SETUID and
    CAP_SETGID over it (root); the child denied setgroups already."""
    try:
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{host_pid}/{name}", "w") as f:
                f.write(f"{STEP_ID} {host_id} 1")
        return os.open(f"/proc/{host_pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise EnclosureError(f"cannot give the step its own uid: {exc}") from exc


def _await_ready(control: socket.socket, ns_pid: int) -> int:
    """The child's host pid, from the credentials sent with its "ready"."""
    message, ancillary, _flags, _addr = control.recvmsg(4096, socket.CMSG_SPACE(_CREDENTIALS.size))
    if message != READY:
        raise EnclosureError(_why(message))
    pid = 0
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _CREDENTIALS.unpack(data[: _CREDENTIALS.size])[0]
    if pid <= 0:
        raise EnclosureError("the child sent no credentials")
    if ns_pids(pid)[-1:] != [ns_pid]:
        raise EnclosureError(f"pid {pid} is not the forked child {ns_pid} of its server")
    return pid


def _send_mounts(
    control: socket.socket,
    mounts: Sequence[PlannedMount],
    groups: list[str],
    userns: int | None = None,
) -> None:
    """The mounts (idmapped through `userns` if given), then the cgroup v1 `tasks` files
    (opened here) the child joins itself."""
    fds: list[int] = []
    try:
        for mount in mounts:
            fds.append(clone_tree(mount.source, read_only=mount.read_only, idmap=userns))
        for group in groups:
            try:
                fds.append(os.open(group, os.O_WRONLY | os.O_CLOEXEC))
            except OSError as exc:
                raise EnclosureError(f"cannot open {group}: {exc}") from exc
        entries = [
            {"target": str(m.target), "dir": m.is_dir, "read_only": m.read_only} for m in mounts
        ]
        send_message(control, {"mounts": entries, "cgroups": len(groups)}, fds)
    except EnclosureError as exc:
        with contextlib.suppress(OSError):
            send_message(control, {"abort": str(exc)})
        raise
    finally:
        for fd in fds:
            os.close(fd)


def _receive(control: socket.socket) -> bytes:
    chunks = []
    while chunk := control.recv(4096):
        chunks.append(chunk)
        if b"".join(chunks) == SEALED:
            break
    return b"".join(chunks)


def _why(message: bytes) -> str:
    if message.startswith(FAILED):
        return message[len(FAILED) :].decode("utf-8", "replace")
    if not message:
        return "the child ended before its sandbox was set up"
    return f"unexpected answer {message[:80]!r}"


_LIBC: list[Any] = []


def _syscall(*args: Any) -> int:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    result = int(_LIBC[0].syscall(*args))
    if result < 0:
        errno = ctypes.get_errno()
        raise EnclosureError(os.strerror(errno))
    return result


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def clone_tree(path: Path, *, read_only: bool, idmap: int | None = None) -> int:
    """A detached bind mount of `path` (not its submounts), nosuid and nodev, read-only if
    asked, idmapped through the user namespace `idmap` if given, as a close-on-exec
    descriptor."""
    before = os.lstat(path)
    flags = _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_SYMLINK_NOFOLLOW
    try:
        fd = _syscall(_SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(path), flags)
    except EnclosureError as exc:
        raise EnclosureError(f"open_tree {path}: {exc}") from None
    try:
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise EnclosureError(f"{path} changed while it was cloned")
        attr = _MountAttr(_MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV, 0, 0, 0)
        if read_only:
            attr.attr_set |= _MOUNT_ATTR_RDONLY
        if idmap is not None:
            attr.attr_set |= _MOUNT_ATTR_IDMAP
            attr.userns_fd = idmap
        try:
            _syscall(
                _SYS_MOUNT_SETATTR, fd, b"", _AT_EMPTY_PATH, ctypes.byref(attr), ctypes.sizeof(attr)
            )
        except EnclosureError as exc:
            raise EnclosureError(f"mount_setattr {path}: {exc}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def ns_pids(pid: int) -> list[int]:
    """`pid`'s numbers in each pid namespace, outermost first (/proc/PID/status NSpid)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(n) for n in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


def host_pid_of(ancestor: int, ns_pid: int) -> int | None:
    """The host pid of the descendant of `ancestor` whose innermost pid is `ns_pid`."""
    seen, queue = set(), [ancestor]
    while queue:
        pid = queue.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid != ancestor and ns_pids(pid)[-1:] == [ns_pid]:
            return pid
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    queue.extend(int(c) for c in f.read().split())
    return None


def attach_network(slirp: str, pid: int) -> tuple[Callable[[], None] | None, str]:
    """slirp4netns on `pid`'s network namespace; a function that stops it, or None and why."""
    from . import _netns

    exit_r, exit_w = _netns._high_pipe()
    said = os.memfd_create("slirp4netns-said")
    try:
        net, problem = _netns._attach(slirp, pid, exit_r, said)
    finally:
        os.close(exit_r)
        os.close(said)
    if net is None:
        os.close(exit_w)
        return None, problem
    stopped: list[bool] = []

    def stop() -> None:
        if stopped:
            return
        stopped.append(True)
        os.close(exit_w)
        _netns._send(net, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(net, 0)

    return stop, ""
