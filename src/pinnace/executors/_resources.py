"""Resource faults seen by the engine: a full disk named in plain words, partial files removed."""

from __future__ import annotations

from pathlib import Path

from .._files import disk_usage

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
        (disk_usage(entry), entry.name)
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
