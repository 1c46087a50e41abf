"""Starts a sandboxed step with its own network (bwrap --unshare-net + slirp4netns).

Run as a script by the server's interpreter (`python -I -S _netns.py SLIRP -- BWRAP ARGS`;
standard library only): it starts bwrap, whose arguments name the fds `INFO_FD` (bwrap
writes the sandbox's pid there), `BLOCK_FD` (the sandbox waits on it before running the
step) and `DNS_FD` (its /etc/resolv.conf). Once it knows the pid it attaches slirp4netns
to the sandbox's network namespace with `--disable-host-loopback` (the step reaches other
hosts, never this machine's loopback services: the server's API, a database on 127.0.0.1),
waits until the namespace is configured, then lets the step run. slirp4netns goes with the
step: its exit fd closes when this process ends, and it is killed once bwrap has ended.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import IO

#: the fds bwrap is told about (see `Sandbox.wrap`)
INFO_FD, BLOCK_FD, DNS_FD = 3, 4, 5
#: slirp4netns's resolver, gateway and the step's address (its defaults)
RESOLV_CONF = b"nameserver 10.0.2.3\noptions ndots:0\n"
#: exit status when the network cannot be set up (the step never ran)
SETUP_FAILED = 125


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends lie above the fixed fds (they are free for `_fixed`)."""
    read, write = os.pipe()
    high = (
        fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 100),
        fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, 100),
    )
    os.close(read)
    os.close(write)
    return high


def _fixed(fds: dict[int, int]) -> None:
    """Put each fd (value, above the fixed ones) at its fixed number (key)."""
    for target, fd in fds.items():
        os.dup2(fd, target, inheritable=False)
        os.close(fd)


def _sandbox_pid(fd: int) -> int:
    """The pid bwrap reports (its info, one JSON object; the fd stays open in the sandbox
    until the step starts, so read until the object is whole, not until EOF)."""
    text = b""
    while chunk := os.read(fd, 65536):
        text += chunk
        try:
            return int(json.loads(text.decode())["child-pid"])
        except ValueError:
            continue
    raise ValueError(f"no pid in {text[:200]!r}")


def _fail(message: str, bwrap: subprocess.Popen[bytes]) -> int:
    sys.stderr.write(f"pinnace: cannot give the step its network: {message}\n")
    sys.stderr.flush()
    bwrap.kill()
    bwrap.wait()
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


def _attach(
    slirp: str, pid: int, exit_r: int, said: IO[bytes]
) -> tuple[subprocess.Popen[bytes] | None, str]:
    """slirp4netns on the network namespace of `pid`, configured; else None and why."""
    ready_r, ready_w = os.pipe()
    try:
        net = subprocess.Popen(
            [
                slirp,
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-seccomp",
                f"--ready-fd={ready_w}",
                f"--exit-fd={exit_r}",
                str(pid),
                "tap0",
            ],
            pass_fds=(ready_w, exit_r),
            stdout=subprocess.DEVNULL,
            stderr=said,
        )
    except OSError as exc:
        return None, f"{slirp} does not start: {exc}"
    finally:
        os.close(ready_w)
    ready = os.read(ready_r, 1)
    os.close(ready_r)
    if ready != b"1":
        net.wait()
        said.seek(0)
        why = said.read().decode(errors="replace")[-400:].strip()
        return None, f"slirp4netns exited {net.returncode}: {why}"
    return net, ""


def main(argv: list[str]) -> int:
    """`SLIRP -- BWRAP ARGS...`: run the sandbox, its network attached; bwrap's exit status."""
    slirp, separator, *command = argv
    if separator != "--" or not command:
        sys.stderr.write("usage: _netns.py SLIRP4NETNS -- BWRAP ARGS...\n")
        return 2
    info_r, info_w = _high_pipe()
    block_r, block_w = _high_pipe()
    dns_r, dns_w = _high_pipe()
    os.write(dns_w, RESOLV_CONF)  # far below a pipe's buffer
    os.close(dns_w)
    _fixed({INFO_FD: info_w, BLOCK_FD: block_r, DNS_FD: dns_r})
    bwrap = subprocess.Popen(command, pass_fds=(INFO_FD, BLOCK_FD, DNS_FD))
    for fd in (INFO_FD, BLOCK_FD, DNS_FD):
        os.close(fd)
    # A stop signal for this process goes on to the sandbox (it ends, and so does slirp).
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: bwrap.send_signal(s))
    try:
        pid = _sandbox_pid(info_r)
    except (ValueError, KeyError) as exc:
        return _fail(f"bwrap gave no sandbox pid ({exc})", bwrap)
    finally:
        os.close(info_r)
    _await_loopback(pid)
    exit_r, exit_w = os.pipe()
    with tempfile.TemporaryFile() as said:  # what slirp4netns says, shown if it fails
        net, problem = _attach(slirp, pid, exit_r, said)
    os.close(exit_r)
    if net is None:
        return _fail(problem, bwrap)
    # (a broken pipe: the sandbox could not be set up; bwrap said why, in the log)
    with contextlib.suppress(BrokenPipeError):
        os.write(block_w, b"1")
    os.close(block_w)
    code = bwrap.wait()
    os.close(exit_w)  # slirp4netns exits
    try:
        net.wait(timeout=5)
    except subprocess.TimeoutExpired:
        net.kill()
        net.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
