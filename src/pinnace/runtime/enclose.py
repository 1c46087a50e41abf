"""A forked child's own sandbox, entered before any task code runs (Linux; stdlib + ctypes).

A sandboxed fork server lives in a bubblewrap sandbox that shows no attempt's files: only
empty folders at the *bases* under which task folders and inputs lie. Each child it forks
for a task calls `enter(control, spec)` right after fork, on the control socket the executor
sent with the fork request:

1. `unshare` a user, mount and IPC namespace (and a network one unless the step shares the
   host's), make every mount private, bring its loopback up;
2. send "ready": the kernel adds this process's credentials (SO_PASSCRED on the executor's
   end) and translates the pid into the executor's pid namespace, the host pid the executor
   then uses for the attempt's cgroups, supervision and network (slirp4netns on
   /proc/PID/ns/net);
3. its user namespace's maps: started by root (`spec["mapped"]`), the executor writes them,
   "65534 U 1" for uid and gid, U a host uid of this attempt alone, and the child, once it
   has them, takes uid and gid 65534 in its namespace (its host uid becomes U: it can
   signal, trace or inspect no other process, not its server nor another step); otherwise
   it maps its own uid and gid, as before;
4. mount a private /tmp and a fresh empty tmpfs on each base (only now: an unmapped uid
   creates no file), receive detached mounts (`open_tree` clones made by the executor,
   read-only, nosuid and, with U, idmapped where they must be) and their target paths,
   attach each with `move_mount` (the task folder read-write, inputs read-only), remount
   the bases read-only;
5. drop every capability (bounding set, effective/permitted/inheritable, ambient), set
   no_new_privs, check all of it in /proc/self/status, say "sealed" and close the channel.

Anything failing raises `EncloseError`; the caller then exits with `EXIT_NOT_ENCLOSED`
without running task code. The user namespace is the child's own, so the task cannot
undo any of it: it has no capability left in it, and one it makes itself holds these mounts
locked (the kernel locks mounts copied into a less privileged namespace).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import socket
import struct
from typing import Any

#: exit status of a forked child whose sandbox could not be set up (no task code ran)
EXIT_NOT_ENCLOSED = 125
READY, SEALED = b"ready", b"sealed"
FAILED = b"failed: "
#: most mounts (task folder + inputs) one message carries (the kernel's SCM_MAX_FD)
MAX_MOUNTS = 250
_HEADER = struct.Struct("!Q")

_CLONE_NEWNS, _CLONE_NEWIPC = 0x00020000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT = 0x1, 0x2, 0x4, 0x20
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 1 << 18
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT = 428, 429  # x86_64 and aarch64 share the mount API's
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC, _AT_RECURSIVE = 0x1, os.O_CLOEXEC, 0x8000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_AT_FDCWD = -100
#: the uid and gid a step has in its own user namespace when the executor maps them (nobody,
#: as a fresh step's); on the host they are the attempt's own (executors/_enclosure.py)
STEP_ID = 65534
_PR_SET_PDEATHSIG, _PR_GET_PDEATHSIG, _PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 1, 2, 3, 4
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT = 24, 38, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_ST_RDONLY = 0x1


class EncloseError(Exception):
    """The child's sandbox could not be set up (it must not run the task)."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LIBC: list[Any] = []


def _libc() -> Any:
    """libc, loaded once (a sandboxed fork server loads it before forking)."""
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise EncloseError(f"{what}: {os.strerror(errno)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    encode = lambda s: s.encode() if s is not None else None  # noqa: E731
    result = _libc().mount(
        encode(source), target.encode(), encode(fstype), flags, data.encode() if data else None
    )
    _check(result, f"mount {target}")


def enter(control: socket.socket, spec: dict[str, Any]) -> None:
    """Enter this child's own sandbox (see the module docstring); EncloseError if it cannot.

    `spec`: {"bases": [folders], "network": True for a network namespace of its own,
    "keep": [what the server shows under /tmp (its interpreter, the runtime), kept]}.
    """
    try:
        _enter(control, spec)
    except OSError as exc:  # (a system call, a folder it could not make)
        raise EncloseError(str(exc)) from None


def _enter(control: socket.socket, spec: dict[str, Any]) -> None:
    bases = [str(b) for b in spec.get("bases", ())]
    own_network = bool(spec.get("network", True))
    mapped = bool(spec.get("mapped"))
    _unshare(own_network, self_map=not mapped)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    # What the server shows under /tmp is cloned before the private /tmp hides it, and
    # attached again on top, as bwrap binds it there.
    kept = _clone_kept([str(k) for k in spec.get("keep", ())], ["/tmp", *bases])
    try:
        if own_network:
            _loopback_up()
        _send_ready(control, with_credentials=not mapped)
        plan, fds = _receive_plan(control)
        if mapped:
            take_step_ids()  # the executor wrote the maps before it sent the plan
        _mount_private(bases, kept)
    finally:
        for _path, fd, _is_dir in kept:
            os.close(fd)
    try:
        count = len(plan.get("mounts", ()))
        _join_groups(fds[count:])
        _attach_mounts(plan, fds[:count])
    finally:
        for fd in fds:
            os.close(fd)
    for base in bases:
        _mount(None, base, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    drop_capabilities()
    check_confined()
    control.sendall(SEALED)


def _mount_private(bases: list[str], kept: list[tuple[str, int, bool]]) -> None:
    """A private /tmp first (a base may lie under it), as a fresh step's, a fresh tmpfs on
    each base, and what the server showed there (`kept`) on top, checked read-only."""
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    for base in bases:
        os.makedirs(base, mode=0o755, exist_ok=True)
        _mount("tmpfs", base, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755")
    for path, fd, is_dir in kept:
        _place(fd, path, is_dir)
        if not os.statvfs(path).f_flag & _ST_RDONLY:
            raise EncloseError(f"{path} should be read-only and is not")


def take_step_ids() -> None:
    """Become uid and gid `STEP_ID` of this user namespace (the executor mapped them to
    the attempt's own host ids), with no supplementary group, still holding the
    namespace's capabilities (its root is unmapped: the kernel drops none).

    The kernel clears the parent-death signal and resets "dumpable" on a change of
    credentials: both are put back as they were (dumpable: the task reads its own
    /proc/self/environ). If the parent died meanwhile, no one supervises the attempt.
    """
    libc = _libc()
    signal_number = ctypes.c_int(0)
    _check(libc.prctl(_PR_GET_PDEATHSIG, ctypes.byref(signal_number), 0, 0, 0), "pdeathsig")
    dumpable = _check(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0), "dumpable")
    parent = os.getppid()
    if os.getgroups():
        os.setgroups([])  # (the server has none: setgroups is denied in the namespace)
    try:
        os.setresgid(STEP_ID, STEP_ID, STEP_ID)
        os.setresuid(STEP_ID, STEP_ID, STEP_ID)
    except OSError as exc:
        raise EncloseError(f"cannot take the step's uid: {exc} (no map?)") from None
    _check(libc.prctl(_PR_SET_DUMPABLE, dumpable, 0, 0, 0), "dumpable")
    if signal_number.value:
        _check(libc.prctl(_PR_SET_PDEATHSIG, signal_number.value, 0, 0, 0), "pdeathsig")
        if os.getppid() != parent:
            raise EncloseError("the fork server ended while the step was set up")
    if os.getresuid() != (STEP_ID,) * 3 or os.getresgid() != (STEP_ID,) * 3:
        raise EncloseError(f"uid {os.getresuid()} gid {os.getresgid()} after the switch")


def fail(control: socket.socket | None, reason: str) -> None:
    """Tell the executor why the sandbox was not entered (best effort)."""
    if control is not None:
        with contextlib.suppress(OSError):
            control.sendall(FAILED + reason.encode("utf-8", "replace")[:2000])


def _unshare(own_network: bool, *, self_map: bool) -> None:
    """New namespaces; setgroups denied for good; with `self_map` its own uid and gid
    mapped (else the executor maps them: it can give the attempt a host uid of its own)."""
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWIPC | (_CLONE_NEWNET if own_network else 0)
    _check(_libc().unshare(flags), "unshare")
    writes = [("setgroups", "deny")]
    if self_map:
        writes += [("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")]
    for name, text in writes:
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _loopback_up() -> None:
    """As bwrap does for a fresh step's network namespace: `lo` up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def _send_ready(control: socket.socket, *, with_credentials: bool) -> None:
    """ "ready", with this process's credentials: the executor learns its host pid.

    Unmapped, it sends none (the kernel refuses credentials naming an unmapped uid) and the
    kernel adds its own, as it does for any sender to a socket with SO_PASSCRED."""
    if not with_credentials:
        control.sendall(READY)
        return
    credentials = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
    control.sendmsg([READY], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, credentials)])


def _receive_plan(control: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The executor's mounts message: an 8-byte length and JSON, the mounts' fds with it."""
    header, fds, _flags, _addr = socket.recv_fds(control, _HEADER.size, MAX_MOUNTS + 8)
    try:
        while len(header) < _HEADER.size:
            more = control.recv(_HEADER.size - len(header))
            if not more:
                raise EncloseError("the executor closed the control channel")
            header += more
        (size,) = _HEADER.unpack(header)
        if size > 1 << 20:
            raise EncloseError("the mounts message is too large")
        payload = b""
        while len(payload) < size:
            chunk = control.recv(size - len(payload))
            if not chunk:
                raise EncloseError("the executor closed the control channel")
            payload += chunk
        plan = json.loads(payload)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    if plan.get("abort"):
        for fd in fds:
            os.close(fd)
        raise EncloseError(str(plan["abort"]))
    announced = len(plan.get("mounts", ())) + int(plan.get("cgroups", 0))
    if announced != len(fds):
        for fd in fds:
            os.close(fd)
        raise EncloseError(f"{announced} descriptors announced, {len(fds)} sent")
    return plan, fds


def _join_groups(fds: list[int]) -> None:
    """Join the attempt's cgroups (v1): "0" to each group's `tasks` file, which the
    executor opened (the kernel checks the opener's rights). It moves this thread, the
    whole process while it has one, without the global lock a pid written from outside
    would take (see confine.py)."""
    for fd in fds:
        try:
            os.write(fd, b"0")
        except OSError as exc:
            raise EncloseError(f"cannot join the attempt's cgroup: {exc}") from None


def _attach_mounts(plan: dict[str, Any], fds: list[int]) -> None:
    for entry, fd in zip(plan["mounts"], fds, strict=True):
        target = os.path.abspath(str(entry["target"]))
        _place(fd, target, bool(entry.get("dir")))
        if entry.get("read_only") and not os.statvfs(target).f_flag & _ST_RDONLY:
            raise EncloseError(f"{target} should be read-only and is not")


def _place(fd: int, target: str, is_dir: bool) -> None:
    """Attach the detached mount `fd` at `target` (its mount point made, parents 0755)."""
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if is_dir:
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    result = _libc().syscall(
        _SYS_MOVE_MOUNT, fd, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH
    )
    _check(result, f"move_mount {target}")
    # Its own propagation: nothing mounted on the host below it shows up here, nor back.
    _mount(None, target, None, _MS_REC | _MS_PRIVATE)


def _clone_kept(paths: list[str], covered: list[str]) -> list[tuple[str, int, bool]]:
    """Detached copies (with what is mounted below them) of the outermost `paths` that lie
    under a `covered` folder and exist: (path, fd, is a folder)."""
    kept: list[tuple[str, int, bool]] = []
    for path in sorted({os.path.abspath(p) for p in paths}):
        if not any(path.startswith(c + "/") for c in covered) or not os.path.exists(path):
            continue
        if any(path.startswith(k + "/") for k, _, _ in kept):
            continue
        flags = _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | _AT_RECURSIVE
        fd = _check(_libc().syscall(_SYS_OPEN_TREE, _AT_FDCWD, path.encode(), flags), path)
        kept.append((path, fd, os.path.isdir(path)))
    return kept


def drop_capabilities() -> None:
    """No capability left, none to gain: bounding set, capset zero, ambient cleared."""
    libc = _libc()
    last = 63
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        pass
    for cap in range(last + 1):
        _check(libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap}")
    _check(libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient caps")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def check_confined() -> None:
    """Raise unless /proc/self/status shows no capability at all and no_new_privs."""
    wanted = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}
    found: dict[str, str] = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            found[name] = value.strip()
    for name in wanted:
        if int(found.get(name, "1"), 16) != 0:
            raise EncloseError(f"{name} is {found.get(name)} after dropping capabilities")
    if found.get("NoNewPrivs") != "1":
        raise EncloseError("no_new_privs is not set")
