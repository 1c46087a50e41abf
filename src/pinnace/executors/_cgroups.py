"""Control groups (v1 or v2) where this process may create them: find, create, limit, empty.

A `CgroupLayout` names, for each hierarchy Pinnace uses, the folder of this process's own
group; attempts get child groups below `<own>/pinnace/<supervisor>/`. With cgroup v1 the
memory hierarchy holds the tree (its `cgroup.procs` lists every process of the attempt)
and the cpu hierarchy holds the CPU quota; with v2 one group does both.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import _proctree

CGROUP1 = "cgroup1"
CGROUP2 = "cgroup2"
_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupLayout:
    """`version` is CGROUP1 or CGROUP2; `own` maps a hierarchy ("memory", "cpu" or "" for
    v2) to the folder of this process's group in it."""

    version: str
    own: dict[str, Path]

    @property
    def tree_hierarchy(self) -> str:
        return "memory" if self.version == CGROUP1 else ""


def _mounts() -> tuple[dict[str, tuple[Path, str]], tuple[Path, str] | None]:
    """v1 controller -> (mount point, mount root); and the v2 mount, if any."""
    v1: dict[str, tuple[Path, str]] = {}
    v2 = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return v1, None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = fields[3], Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2" and (v2 is None or str(point) == "/sys/fs/cgroup"):
            v2 = (point, root)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                v1.setdefault(option, (point, root))
    return v1, v2


def _own_paths() -> dict[str, str]:
    """Hierarchy key ("memory", "cpu"... or "" for v2) -> this process's group path."""
    found: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _inside(point: Path, root: str, path: str) -> Path:
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return point / path.lstrip("/")


def _writable(folder: Path) -> bool:
    probe = folder / f"pinnace-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


def detect(prefer: str | None = None) -> CgroupLayout | None:
    """The cgroups this process can create children in, or None (no cgroups for us).

    v1 when its memory controller is mounted (hybrid hosts mount an empty v2 beside it);
    `prefer` CGROUP2 or CGROUP1 asks for one version only.
    """
    v1, v2 = _mounts()
    own = _own_paths()
    if prefer in (None, CGROUP1) and "memory" in v1 and "memory" in own:
        folders = {"memory": _inside(*v1["memory"], own["memory"])}
        if "cpu" in v1 and "cpu" in own:
            folders["cpu"] = _inside(*v1["cpu"], own["cpu"])
        usable = {k: f for k, f in folders.items() if _writable(f)}
        if "memory" in usable:
            return CgroupLayout(CGROUP1, usable)
    if prefer in (None, CGROUP2) and v2 is not None and "" in own:
        folder = _inside(*v2, own[""])
        if _writable(folder):
            return CgroupLayout(CGROUP2, {"": folder})
    return None


def write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
    except OSError:
        return False
    return True


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def enable_controllers(folder: Path) -> None:
    """v2: let the children of `folder` have memory and cpu limits (where delegated)."""
    available = read(folder / "cgroup.controllers").split()
    for name in ("memory", "cpu"):
        if name in available:
            write(folder / "cgroup.subtree_control", f"+{name}")


def procs(folder: Path) -> set[int]:
    return {int(p) for p in read(folder / "cgroup.procs").split() if p.isdigit()}


def set_memory(layout: CgroupLayout, folders: dict[str, Path], limit: int) -> bool:
    if layout.version == CGROUP1:
        folder = folders["memory"]
        ok = write(folder / "memory.limit_in_bytes", str(limit))
        write(folder / "memory.memsw.limit_in_bytes", str(limit))  # absent without swap
        return ok
    folder = folders[""]
    write(folder / "memory.swap.max", "0")
    write(folder / "memory.oom.group", "1")
    return write(folder / "memory.max", str(limit))


def set_cpu(layout: CgroupLayout, folders: dict[str, Path], cores: float) -> bool:
    quota = max(1000, int(cores * _PERIOD_US))
    if layout.version == CGROUP1:
        if "cpu" not in folders:
            return False
        write(folders["cpu"] / "cpu.cfs_period_us", str(_PERIOD_US))
        return write(folders["cpu"] / "cpu.cfs_quota_us", str(quota))
    return write(folders[""] / "cpu.max", f"{quota} {_PERIOD_US}")


def oom_kills(layout: CgroupLayout, folders: dict[str, Path]) -> int:
    """How many processes of the group the kernel killed for exceeding its memory limit."""
    if layout.version == CGROUP1:
        text = read(folders["memory"] / "memory.oom_control")
    else:
        text = read(folders[""] / "memory.events")
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


def peak_memory(layout: CgroupLayout, folders: dict[str, Path]) -> int:
    if layout.version == CGROUP1:
        text = read(folders["memory"] / "memory.max_usage_in_bytes")
    else:
        text = read(folders[""] / "memory.peak")
    return int(text) if text.strip().isdigit() else 0


def empty(folder: Path, *, timeout: float = 5.0) -> set[int]:
    """Kill every process in `folder` until none is left; return those that would not die."""
    if write(folder / "cgroup.kill", "1"):  # v2, Linux 5.14+: the kernel does it at once
        pass
    deadline = time.monotonic() + timeout
    while True:
        left = procs(folder)
        if not left or time.monotonic() > deadline:
            return left
        # A process forking as fast as we kill is caught in a later round. No reaping here:
        # the root's exit status belongs to its Popen.
        _proctree.signal_all(left)
        time.sleep(0.01)


def remove(folder: Path) -> bool:
    """Empty and delete an attempt's group (its processes are killed)."""
    if not folder.is_dir():
        return True
    empty(folder)
    for _ in range(50):
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.02)  # the last exits are still being accounted
    return False
