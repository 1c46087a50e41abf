"""Housekeeping of a Pinnace home: what killed processes and deleted runs leave behind.

`find_garbage` lists, without touching anything:

- work folders of runs that are not running any more (or no longer exist), and the
  fetched-input caches (`work/inputs`, `work/imported`) while no run is active;
- half-built environments whose build is not running (`envs/.building/*`), and aliases of
  environments that were removed (`envs/.aliases/*`; see pinnace.envs.cache);
- temporary files of artifact writes that were killed (`.NAME.pinnace-tmp-*`, `-old-*`);
- with `artifacts=True`, the artifacts of runs that were deleted.

`remove` deletes what was found. `pinnace gc` prints the list (a dry run) unless `--delete`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._files import disk_usage
from .envs.cache import EnvironmentCache
from .model.state import RunState
from .settings import Settings
from .stores.base import MetadataStore

_ACTIVE = (RunState.PENDING, RunState.RUNNING, RunState.CANCELING)
_TEMPORARY = (".pinnace-tmp-", ".pinnace-old-")


@dataclass(frozen=True)
class Garbage:
    """One thing `pinnace gc` would free: where, how many bytes, and why."""

    path: Path
    size: int
    reason: str


def find_garbage(
    settings: Settings, metadata: MetadataStore, *, artifacts: bool = False
) -> list[Garbage]:
    runs = {r.run_id: r for r in metadata.list_runs(limit=1_000_000, spec=False)}
    active = {run_id for run_id, r in runs.items() if r.state in _ACTIVE}
    found = list(_work(settings.work_dir, runs, active))
    envs = EnvironmentCache(settings.envs_dir)
    for folder in envs.stale_builds():
        found.append(Garbage(folder, disk_usage(folder), "half-built environment"))
    for alias in envs.dangling_aliases():  # an alias in use is never garbage
        found.append(Garbage(alias, disk_usage(alias), "alias of a removed environment"))
    root = Path(settings.artifact_root)
    if root.is_dir():  # a local artifact store
        found += _temporaries(root)
        if artifacts:
            for folder in _children(root):
                if folder.name not in runs and not folder.name.startswith("."):
                    found.append(Garbage(folder, disk_usage(folder), "artifacts of a deleted run"))
    return found


def clean_after(settings: Settings, run_ids: Iterable[str]) -> int:
    """Remove what killed drivers left of `run_ids` (settled runs, not running any more):
    their work folders and the temporaries of artifact writes they were doing."""
    found: list[Garbage] = []
    root = Path(settings.artifact_root)
    for run_id in run_ids:
        work = settings.work_dir / run_id
        if work.is_dir():
            found.append(Garbage(work, disk_usage(work), "work folder of a settled run"))
        if (root / run_id).is_dir():
            found += _temporaries(root / run_id)
    return remove(found)


def remove(garbage: Iterable[Garbage]) -> int:
    """Delete what was found; the bytes freed."""
    freed = 0
    for item in garbage:
        if item.path.is_dir() and not item.path.is_symlink():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            item.path.unlink(missing_ok=True)
        freed += item.size
    return freed


def _work(work: Path, runs: Mapping[str, object], active: set[str]) -> Iterable[Garbage]:
    for folder in _children(work):
        if folder.name in ("inputs", "imported"):
            if not active:
                yield Garbage(folder, disk_usage(folder), "fetched inputs (no run is active)")
        elif folder.name not in active:
            why = "work folder of a finished run" if folder.name in runs else "work folder"
            yield Garbage(folder, disk_usage(folder), why)


def _temporaries(root: Path) -> Iterable[Garbage]:
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            if any(mark in name for mark in _TEMPORARY):
                path = Path(folder, name)
                yield Garbage(path, disk_usage(path), "left by a killed artifact write")
        dirs[:] = [d for d in dirs if not any(mark in d for mark in _TEMPORARY)]


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []
