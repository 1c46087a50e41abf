"""The watchdog of a supervisor: when its driver dies, kill what is left of its attempts.

Standard library only, run as `python -I -S _watchdog.py SPEC_JSON` in its own session (no
terminal signal reaches it). It reads lines from stdin: `+ID` (an attempt started), `-ID`
(it ended). The driver holds the other end of that pipe; when the driver exits, however it
dies (kill -9 included), the pipe closes, and the watchdog kills every process still in the
supervisor's groups, or carrying the marker of an attempt it was told about, then exits.
Task processes die with their driver by themselves (PR_SET_PDEATHSIG); this catches their
descendants that detached into a session of their own.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _group_pids(groups: list[str]) -> set[int]:
    found: set[int] = set()
    for group in groups:
        for folder, _, files in os.walk(group):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(folder, "cgroup.procs")) as f:
                        found |= {int(p) for p in f.read().split() if p.isdigit()}
                except OSError:
                    continue
    return found


def _marked_pids(marker: str, attempts: set[str]) -> set[int]:
    needles = {f"{marker}={a}".encode() for a in attempts}
    found: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = set(f.read().split(b"\0"))
        except OSError:
            continue
        if environ & needles:
            found.add(int(name))
    return found


def _remove_groups(groups: list[str]) -> None:
    for group in groups:
        for folder, _, _ in sorted(os.walk(group), key=lambda w: -len(w[0])):
            try:
                os.rmdir(folder)
            except OSError:
                continue


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    groups, marker = list(spec.get("groups") or []), str(spec.get("marker") or "")
    attempts: set[str] = set()
    for line in sys.stdin:  # until the driver exits and the pipe closes
        line = line.strip()
        if line.startswith("+"):
            attempts.add(line[1:])
        elif line.startswith("-"):
            attempts.discard(line[1:])
    for _ in range(200):
        doomed = _group_pids(groups)
        if marker and attempts:
            doomed |= _marked_pids(marker, attempts)
        doomed.discard(os.getpid())
        if not doomed:
            break
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        time.sleep(0.02)
    _remove_groups(groups)


if __name__ == "__main__":
    main(sys.argv[1:])
