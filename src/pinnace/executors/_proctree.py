"""Processes seen through Linux /proc: start times, parents, markers, resident memory."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards), None if gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may contain spaces and parentheses.
    return stat.rsplit(")", 1)[-1].split()


def start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' when it is gone).

    A pid together with its start time names one process for good: pids are reused.
    """
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else ""


def state(pid: int) -> str:
    """The process's state letter (R, S, D, T stopped, t traced, Z...; '' when it is gone)."""
    fields = _stat_fields(pid)
    return fields[0] if fields else ""


def is_running(pid: int, ticks: str) -> bool:
    """Whether the process `pid` that started at `ticks` still exists (zombies do not count)."""
    fields = _stat_fields(pid)
    if not fields or len(fields) <= 19:
        return False
    return fields[0] != "Z" and (not ticks or fields[19] == ticks)


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def all_pids() -> list[int]:
    return [int(e.name) for e in _PROC.iterdir() if e.name.isdigit()]


def parents() -> dict[int, int]:
    """pid -> parent pid of every live (non-zombie) process."""
    found: dict[int, int] = {}
    for pid in all_pids():
        fields = _stat_fields(pid)
        if fields and fields[0] != "Z":
            found[pid] = int(fields[1])
    return found


def descendants(roots: Iterable[int], parent_map: dict[int, int] | None = None) -> set[int]:
    """`roots` (those alive) and every process below them."""
    parent_map = parents() if parent_map is None else parent_map
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_map.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [r for r in roots if r in parent_map]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def marked(name: str, value: str) -> set[int]:
    """Processes whose environment holds `name=value` (how a detached descendant is found)."""
    needle = f"{name}={value}".encode()
    found = set()
    for pid in all_pids():
        try:
            environ = (_PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.add(pid)
    return found


def resident_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((_PROC / str(pid) / "statm").read_text().split()[1]) * _PAGE
    return total


def signal_all(pids: Iterable[int], signum: int = signal.SIGKILL) -> None:
    for pid in pids:
        if pid > 1 and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those `pids` that are zombie children of this process.

    Only for processes nobody else waits for (orphans handed to us as a subreaper): a
    `subprocess.Popen` must reap its own child.
    """
    me = os.getpid()
    for pid in pids:
        if parent_of(pid) == me:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
