"""Task options on this machine: thread pools for CPU limits, GPUs, readable sizes.

`set_memory_limit` and `set_cpu_limit` hold for a task's whole process tree through its
supervision (executors/_supervision.py: a cgroup, else a watch of the tree); here the usual
thread pools are capped to the CPU limit, and `set_accelerator_limit` hands each GPU task
its own devices through CUDA_VISIBLE_DEVICES, queueing tasks while the devices are taken.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable

from ..errors import ExecutorError

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


def thread_settings(limit: float | None, env: dict[str, str]) -> None:
    """Cap the usual thread pools of a task with CPU limit `limit` (variables go into `env`)."""
    if not limit:
        return
    count = max(1, min(len(_available_cores()), math.ceil(limit)))
    for name in _THREAD_VARIABLES:
        env.setdefault(name, str(count))


def _available_cores() -> set[int]:
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return set(range(os.cpu_count() or 1))


def discover_gpus() -> list[str]:
    """The GPU ids `nvidia-smi -L` lists (none without it); Settings.gpus overrides them."""
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
