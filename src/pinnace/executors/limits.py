"""Task options on this machine: memory limit (RSS watch), CPU limit (affinity), GPUs.

`set_memory_limit` is enforced by watching the resident memory of the task's process
group and killing it when over; `set_cpu_limit` pins the task to ceil(limit) cores and caps
the usual thread pools; `set_accelerator_limit` hands each GPU task its own devices through
CUDA_VISIBLE_DEVICES, queueing tasks while the devices are taken.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import ExecutorError

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def human_bytes(count: int) -> str:
    """2_500_000 -> '2.5M', 612_000_000 -> '612M' (decimal units, as kfp limits are written)."""
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            value = count / size
            return (
                f"{value:.1f}{unit}".replace(".0" + unit, unit)
                if value < 10
                else (f"{round(value)}{unit}")
            )
    return f"{count}B"


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in process group `pgid` (Linux /proc)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            total += int((entry / "statm").read_text().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return total


class MemoryWatch:
    """Polls a process group's RSS every `interval` s; calls `kill` once it exceeds `limit`."""

    def __init__(
        self, pgid: int, limit: int, kill: Callable[[], None], interval: float = 0.1
    ) -> None:
        self.limit, self.peak, self.exceeded = limit, 0, False
        self._pgid, self._kill, self._interval = pgid, kill, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, daemon=True, name=f"pinnace-memory-{pgid}"
        )
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            rss = group_rss(self._pgid)
            self.peak = max(self.peak, rss)
            if rss > self.limit:
                self.exceeded = True
                self._kill()
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def message(self) -> str:
        return (
            f"exceeded its memory limit of {human_bytes(self.limit)} "
            f"(peak {human_bytes(self.peak)}); it was killed"
        )


def cpu_settings(limit: float | None, env: dict[str, str]) -> set[int] | None:
    """The cores a task with CPU limit `limit` is pinned to; thread variables go into `env`."""
    if not limit or not hasattr(os, "sched_getaffinity"):
        return None
    available = sorted(os.sched_getaffinity(0))
    count = max(1, min(len(available), math.ceil(limit)))
    for name in _THREAD_VARIABLES:
        env.setdefault(name, str(count))
    return set(available[:count])


def pin_to(cores: set[int]) -> Callable[[], None]:
    """A `preexec_fn` that pins the child process to `cores`."""

    def pin() -> None:  # runs in the child between fork and exec
        os.sched_setaffinity(0, cores)

    return pin


def discover_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """GPU ids: `PINNACE_GPUS=0,1` when set (empty means none), else `nvidia-smi -L`."""
    environ = dict(os.environ) if environ is None else environ
    if "PINNACE_GPUS" in environ:
        return [g.strip() for g in environ["PINNACE_GPUS"].split(",") if g.strip()]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r"^GPU (\d+):", listing.stdout, flags=re.MULTILINE)


class GpuPool:
    """Hands out GPU ids; a task waits while fewer than it needs are free."""

    def __init__(self, gpus: list[str]) -> None:
        self.gpus = list(gpus)
        self._free = list(gpus)
        self._changed = threading.Condition()

    def acquire(self, count: int, task: str, canceled: Callable[[], bool]) -> list[str] | None:
        """`count` GPU ids, or None when canceled while waiting; ExecutorError if too many."""
        if count > len(self.gpus):
            found = ", ".join(self.gpus) or "none"
            raise ExecutorError(
                f"asks for {count} GPU(s) but this machine has {len(self.gpus)} ({found})",
                task=task,
                hint="lower set_accelerator_limit, or declare devices with "
                "PINNACE_GPUS=0,1 when nvidia-smi cannot see them",
            )
        with self._changed:
            while len(self._free) < count:
                if canceled():
                    return None
                self._changed.wait(timeout=0.2)
            taken, self._free = self._free[:count], self._free[count:]
            return taken

    def release(self, gpus: list[str]) -> None:
        with self._changed:
            self._free = sorted([*self._free, *gpus], key=self.gpus.index)
            self._changed.notify_all()
