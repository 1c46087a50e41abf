"""Starts a sandboxed step with its own network (bwrap --unshare-net + slirp4netns).

Run as a script by the server's interpreter (`python -I -S _netns.py SLIRP -- BWRAP ARGS`;
built-in modules only, so that it starts in milliseconds): it starts bwrap, whose arguments
name the fds `INFO_FD` (bwrap writes the sandbox's pid there), `BLOCK_FD` (the sandbox
waits on it before running the step) and `DNS_FD` (its /etc/resolv.conf). Once it knows the
pid it attaches slirp4netns to the sandbox's network namespace with `--disable-host-loopback`
(the step reaches other hosts, never this machine's loopback services: the server's API, a
database on 127.0.0.1), waits until the namespace is configured, then lets the step run.
slirp4netns goes with the step: its exit fd closes when this process ends, and it is killed
once bwrap has ended.
"""

from __future__ import annotations

import _signal
import fcntl
import os
import sys
import time

#: the fds bwrap is told about (see `Sandbox.wrap`)
INFO_FD, BLOCK_FD, DNS_FD = 3, 4, 5
#: slirp4netns's resolver, gateway and the step's address (its defaults)
RESOLV_CONF = b"nameserver 10.0.2.3\noptions ndots:0\n"
#: exit status when the network cannot be set up (the step never ran)
SETUP_FAILED = 125
_DUP2 = os.POSIX_SPAWN_DUP2


def _high_pipe() -> tuple[int, int]:
    """A close-on-exec pipe whose ends lie above the fixed fds."""
    read, write = os.pipe()
    high = (
        fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 100),
        fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, 100),
    )
    os.close(read)
    os.close(write)
    return high


def _sandbox_pid(fd: int) -> int:
    """The pid bwrap reports (`"child-pid": N` in its JSON info, one flat object). The fd
    stays open in the sandbox until the step starts: read until the object's end, not EOF
    (bwrap fails if the pipe closes before it has written everything)."""
    text = b""
    while b"}" not in text and (chunk := os.read(fd, 65536)):
        text += chunk
    _, key, rest = text.partition(b'"child-pid":')
    digits = rest.split(b",")[0].split(b"}")[0].strip()
    if not key or not digits.isdigit():
        raise ValueError(f"no pid in {text[:200]!r}")
    return int(digits)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _fail(message: str, bwrap: int) -> int:
    os.write(2, f"pinnace: cannot give the step its network: {message}\n".encode())
    os.kill(bwrap, _signal.SIGKILL)
    os.waitpid(bwrap, 0)
    return SETUP_FAILED


def _await_loopback(pid: int, tries: int = 2000) -> None:
    """Wait until bwrap has brought up the sandbox's loopback (slirp4netns configures it
    too: doing both at once fails bwrap's setup now and then). Up, it has ::1."""
    for _ in range(tries):
        try:
            with open(f"/proc/{pid}/net/if_inet6", "rb") as f:
                if any(line.split()[-1:] == [b"lo"] for line in f):
                    return
        except OSError:
            return  # the sandbox is gone: bwrap's exit status tells why
        time.sleep(0.001)


def _attach(slirp: str, pid: int, exit_r: int, said: int) -> tuple[int | None, str]:
    """slirp4netns on the network namespace of `pid`, configured; else None and why."""
    ready_r, ready_w = _high_pipe()
    try:
        net = os.posix_spawn(
            slirp,
            [
                slirp,
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-seccomp",
                "--ready-fd=3",
                "--exit-fd=4",
                str(pid),
                "tap0",
            ],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (_DUP2, said, 2),
                (_DUP2, ready_w, 3),
                (_DUP2, exit_r, 4),
            ],
        )
    except OSError as exc:
        return None, f"{slirp} does not start: {exc}"
    finally:
        os.close(ready_w)
    ready = os.read(ready_r, 1)
    os.close(ready_r)
    if ready != b"1":
        _, status = os.waitpid(net, 0)
        os.lseek(said, 0, os.SEEK_SET)
        why = os.read(said, 65536).decode(errors="replace")[-400:].strip()
        return None, f"slirp4netns exited {os.waitstatus_to_exitcode(status)}: {why}"
    return net, ""


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        return  # already gone


def _send_byte(fd: int) -> bool:
    try:
        return os.write(fd, b"1") == 1
    except BrokenPipeError:
        return False


def main(argv: list[str]) -> int:
    """`SLIRP -- BWRAP ARGS...`: run the sandbox, its network attached; bwrap's exit status."""
    slirp, separator, *command = argv
    if separator != "--" or not command:
        os.write(2, b"usage: _netns.py SLIRP4NETNS -- BWRAP ARGS...\n")
        return 2
    info_r, info_w = _high_pipe()
    block_r, block_w = _high_pipe()
    dns_r, dns_w = _high_pipe()
    os.write(dns_w, RESOLV_CONF)  # far below a pipe's buffer
    os.close(dns_w)
    bwrap = os.posix_spawn(
        command[0],
        command,
        os.environ,
        file_actions=[(_DUP2, info_w, INFO_FD), (_DUP2, block_r, BLOCK_FD), (_DUP2, dns_r, DNS_FD)],
    )
    for fd in (info_w, block_r, dns_r):
        os.close(fd)
    # A stop signal for this process goes on to the sandbox (it ends, and so does slirp).
    for signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
        _signal.signal(signum, lambda s, _f: _send(bwrap, s))
    try:
        pid = _sandbox_pid(info_r)
    except ValueError as exc:
        return _fail(f"bwrap gave no sandbox pid ({exc})", bwrap)
    finally:
        os.close(info_r)
    _await_loopback(pid)
    exit_r, exit_w = _high_pipe()
    said = os.memfd_create("slirp4netns-said")  # what it says, shown only when it fails
    net, problem = _attach(slirp, pid, exit_r, said)
    os.close(exit_r)
    os.close(said)
    if net is None:
        return _fail(problem, bwrap)
    _send_byte(block_w)  # (refused: the sandbox could not be set up; bwrap said why)
    os.close(block_w)
    _, status = os.waitpid(bwrap, 0)
    # Its namespace is gone: slirp4netns has nothing left to do (it would exit on its own,
    # the exit fd closed, but only after ~25 ms)
    os.close(exit_w)
    _send(net, _signal.SIGKILL)
    os.waitpid(net, 0)
    return _exit_code(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
