"""Resource faults seen by the engine: a full disk named in plain words, partial files removed."""

from __future__ import annotations

import os
from pathlib import Path

#: how a full disk (or an exhausted quota) shows in errors from Python, SQLite and shells
_NO_SPACE = (
    "no space left on device",
    "errno 28",
    "database or disk is full",
    "disk quota exceeded",
    "errno 122",
)


def no_space(error: str | None) -> bool:
    """Whether `error` says the disk (or a quota) was full."""
    text = (error or "").lower()
    return any(marker in text for marker in _NO_SPACE)


def no_space_reason(workdir: Path, task: str) -> str:
    """What a user should read when task `task` ran out of disk: the output it was writing
    (the biggest partial one in its folder), e.g. "no space left on device while writing
    output 'model' of task 'train-model'"."""
    written = [
        (_size(entry), entry.name)
        for kind in ("artifacts", "parameters")
        for entry in _entries(workdir / "outputs" / kind)
    ]
    if written:
        return f"no space left on device while writing output {max(written)[1]!r} of task {task!r}"
    return f"no space left on device while task {task!r} ran"


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total
