"""Entering a supervised attempt from inside the child: cgroups, parent-death signal, cores.

Standard library only: this runs in the task's own interpreter (a fork server's child calls
`enter(spec)` right after fork), or as a shim that enters and then `exec`s the task's
command: `python -I -S confine.py SPEC_JSON COMMAND...`. The spec is what
`pinnace.executors._supervision.Containment.child_spec()` returns:

    {"procs": ["/sys/fs/cgroup/memory/.../tasks", ...],
     "parent": 1234, "pdeathsig": 9, "cores": [0, 1], "marker": ["PINNACE_ATTEMPT", "..."]}

A `cgroup.procs` file (v2) is written the process id; a v1 `tasks` file "0": the calling
thread, which is the whole process while it has one thread, and which the kernel moves
without the global lock (and RCU grace period) a `cgroup.procs` write waits for. A process
with more threads joins through the group's `cgroup.procs` instead.
"""

from __future__ import annotations

import os
import sys

PR_SET_PDEATHSIG = 1


def enter(spec: dict) -> None:  # type: ignore[type-arg]
    """Join the attempt's cgroups, die with the parent, keep to the attempt's cores.

    Call it in the child before running anything of the task. Exits the process (code 125)
    when the parent already died: nobody would supervise the attempt.
    """
    pid = str(os.getpid()).encode()
    for path in spec.get("procs", ()):
        value = pid
        if os.path.basename(path) == "tasks":
            if _single_threaded():
                value = b"0"
            else:
                path = os.path.join(os.path.dirname(path), "cgroup.procs")
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value)
        finally:
            os.close(fd)
    signal_number = int(spec.get("pdeathsig") or 0)
    if signal_number:
        prctl()(PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
        parent = spec.get("parent")
        if parent and os.getppid() != int(parent):
            os._exit(125)  # the driver died between our fork and prctl
    cores = spec.get("cores")
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cores))
    marker = spec.get("marker")
    if marker:
        os.environ[marker[0]] = marker[1]


_PRCTL: list = []  # type: ignore[type-arg]  # no `typing` here: the shim starts lean


def prctl():  # type: ignore[no-untyped-def]
    """libc's prctl, found once: a fork server calls this before forking, so its children
    do not each build a `ctypes.CDLL` (a new class, ~0.3 ms in a child whose pages are
    all shared with the server)."""
    if not _PRCTL:
        import ctypes

        _PRCTL.append(ctypes.CDLL(None, use_errno=True).prctl)
    return _PRCTL[0]


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def main(argv: list[str]) -> None:
    """`confine.py SPEC_JSON COMMAND...`: enter, then become COMMAND (same process id)."""
    import json

    enter(json.loads(argv[0]))
    command = argv[1:]
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"pinnace: cannot start {command[0]}: {exc}\n")
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
