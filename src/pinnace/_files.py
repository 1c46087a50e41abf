"""Files a step wrote, read and copied as data: never through a link, never a special file.

A step controls everything in its output folder. Whoever reads or copies from there (the
engine collecting outputs, the artifact store committing them) must not be led elsewhere:
a symbolic link could name the metadata database (opening and closing it drops SQLite's
locks) or any file of the server's user; a hard link is such a file under another name; a
FIFO blocks whoever opens it; a device reads forever. So every file is opened without
following links (`O_NOFOLLOW`, component by component under a trusted folder), checked to
be a regular file with one name, and read within limits; anything else is refused with an
`OutputRefusedError` that fails the task and says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputRefusedError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class OutputLimits:
    """How big one output may be: its file count and total bytes (a folder's included)."""

    max_files: int = 100_000
    max_bytes: int = 256 * 1024**3


DEFAULT_LIMITS = OutputLimits()


def _refuse(what: str, relative: str, problem: str, hint: str) -> OutputRefusedError:
    where = f"{what} ({relative})" if relative else what
    return OutputRefusedError(f"{where} {problem}", hint=hint)


_LINK_HINT = "outputs are data, never links: copy the file into the output instead"
_SPECIAL = "is a special file (FIFO/device/socket)"


def _check_fd(fd: int, what: str, relative: str, *, folder_ok: bool) -> os.stat_result:
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode) and folder_ok:
        return info
    if not stat.S_ISREG(info.st_mode):
        problem = "is a folder" if stat.S_ISDIR(info.st_mode) else _SPECIAL
        raise _refuse(what, relative, problem, "write regular files only")
    if info.st_nlink > 1:
        raise _refuse(what, relative, "is a hard link to a file elsewhere", _LINK_HINT)
    return info


def _open_nofollow(name: str, dir_fd: int | None, what: str, relative: str) -> int:
    flags = os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a link, last or mid-path
            raise _refuse(what, relative, "is a symbolic link", _LINK_HINT) from None
        if exc.errno == errno.ENXIO:  # a socket (or a device without its driver)
            raise _refuse(what, relative, _SPECIAL, "write regular files only") from None
        raise _refuse(
            what, relative, f"cannot be read: {exc.strerror}", "see the task log"
        ) from None


@contextlib.contextmanager
def open_beneath(root: Path, path: Path, what: str) -> Iterator[int]:
    """A descriptor of `path` (which must lie under the trusted folder `root`) opened one
    component at a time without following any link."""
    root, path = Path(os.path.abspath(root)), Path(os.path.abspath(path))
    if path != root and root not in path.parents:
        raise _refuse(what, str(path), f"is outside the task's folder {str(root)!r}", _LINK_HINT)
    fd = os.open(root, os.O_RDONLY | _DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        for part in path.relative_to(root).parts:
            nxt = _open_nofollow(part, fd, what, str(path))
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def read_regular(root: Path, path: Path, what: str, limit: int = 64 * 1024**2) -> bytes:
    """The bytes of the regular file `path` under `root`, at most `limit` of them."""
    with open_beneath(root, path, what) as fd:
        info = _check_fd(fd, what, "", folder_ok=False)
        if info.st_size > limit:
            raise _refuse(what, "", f"is over {limit} bytes", "write less, or use an artifact")
        chunks, size = [], 0
        while chunk := os.read(fd, _CHUNK):
            size += len(chunk)
            if size > limit:
                raise _refuse(what, "", f"is over {limit} bytes", "write less")
            chunks.append(chunk)
        return b"".join(chunks)


class _Budget:
    def __init__(self, limits: OutputLimits, what: str) -> None:
        self.limits, self.what, self.files, self.bytes = limits, what, 0, 0

    def file(self, relative: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise _refuse(
                self.what,
                relative,
                f"makes more than {self.limits.max_files} files",
                "pack many small files into an archive",
            )

    def add(self, count: int, relative: str) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_bytes:
            raise _refuse(
                self.what,
                relative,
                f"makes the output over {self.limits.max_bytes} bytes",
                "write a smaller output, or raise the output size limit",
            )


def copy_output(
    root: Path,
    source: Path,
    dest: Path | None,
    what: str,
    limits: OutputLimits = DEFAULT_LIMITS,
) -> tuple[int, int]:
    """Copy the file or folder `source` (under the trusted folder `root`) to `dest` as plain
    data; with `dest` None only check it. Returns (files, bytes); refuses links, special
    files, hard links and outputs over `limits` (OutputRefusedError)."""
    budget = _Budget(limits, what)
    with open_beneath(root, source, what) as fd:
        info = _check_fd(fd, what, "", folder_ok=True)
        if stat.S_ISDIR(info.st_mode):
            if dest is not None:
                dest.mkdir(mode=0o755)
            _copy_folder(fd, dest, "", budget)
        else:
            budget.file("")
            _copy_file(fd, dest, info, "", budget)
    return budget.files, budget.bytes


def _copy_folder(fd: int, dest: Path | None, relative: str, budget: _Budget) -> None:
    with os.scandir(fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        inner = f"{relative}/{name}" if relative else name
        child = _open_nofollow(name, fd, budget.what, inner)
        try:
            info = _check_fd(child, budget.what, inner, folder_ok=True)
            target = dest / name if dest is not None else None
            if stat.S_ISDIR(info.st_mode):
                if target is not None:
                    target.mkdir(mode=0o755)
                _copy_folder(child, target, inner, budget)
            else:
                budget.file(inner)
                _copy_file(child, target, info, inner, budget)
        finally:
            os.close(child)


def _copy_file(
    fd: int, dest: Path | None, info: os.stat_result, relative: str, budget: _Budget
) -> None:
    budget.add(0, relative)
    if dest is None:
        budget.add(info.st_size, relative)
        return
    # Executable bits survive; set-id bits and others' write bits do not.
    mode = 0o755 if info.st_mode & 0o111 else 0o644
    out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    with os.fdopen(out, "wb") as handle:
        while chunk := os.read(fd, _CHUNK):
            budget.add(len(chunk), relative)
            handle.write(chunk)


def disk_usage(path: Path) -> int:
    """Bytes held by the files under `path` (a file: its size; a link: the link itself);
    files that vanish meanwhile count as nothing."""
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
