"""Who drives a run: process identities that survive pid reuse (host, pid, start time)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: kills the survivors of an execution from its recorded process identity
LeftoverKiller = Callable[[Mapping[str, Any]], int]


def current_owner() -> str:
    """An identity for this process that survives pid reuse: host, pid and start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process named by `owner` still runs (unknown hosts count as alive)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not ticks or _start_ticks(pid) == ticks


def _start_ticks(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime); the command name in parentheses may contain spaces.
    return stat.rsplit(")", 1)[-1].split()[19]
