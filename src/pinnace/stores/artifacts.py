"""The artifact store: artifact bytes under one root, a local folder or any fsspec URL.

Writes are atomic, so readers never see half an artifact. In a local folder a commit copies
to a hidden sibling name first, then renames it into place. An object store (S3 and the
like) has no rename of a folder, so there a commit uploads the objects where they belong and
then writes a *commit marker*, a small JSON object beside them (`.NAME.pinnace-commit`) that
lists them: one PUT, atomic on S3. Readers honour it: an artifact without its marker does not
exist, and fetching a folder downloads exactly the listed objects. A replacing commit deletes
the marker first, so an artifact being rewritten is absent, never mixed.
Every URI is checked to lie under the root (no `..`, no symlink leading out) before it is
touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .._files import DEFAULT_LIMITS, OutputLimits, copy_output
from ..errors import NotFoundError, PinnaceError, StoreError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: suffix of the object that makes a remote artifact visible (see the module docstring)
COMMIT_MARKER = ".pinnace-commit"


class FsspecArtifactStore:
    """An `ArtifactStore` rooted at a local folder or an fsspec URL (`s3://bucket/prefix`).

    Example:
        >>> store = FsspecArtifactStore("/tmp/pinnace-artifacts")
        >>> store.uri_for("run-1", "train", "model")
        '/tmp/pinnace-artifacts/run-1/train/model'
    """

    def __init__(self, root: str, *, output_limits: OutputLimits = DEFAULT_LIMITS) -> None:
        scheme = _scheme(root)
        self._fs: Any = None
        self.output_limits = output_limits
        if scheme in ("", "file"):
            local = root[len("file://") :] if scheme else root
            self._local_root: Path | None = Path(local).expanduser().resolve()
            self.root = str(self._local_root)
            return
        self._local_root = None
        self.root = root.rstrip("/")
        with _translated("open the artifact store", root, hint=_driver_hint(scheme)):
            from fsspec.core import url_to_fs

            self._fs, _ = url_to_fs(self.root)
        self._root_path = self._fs._strip_protocol(self.root).rstrip("/")

    def uri_for(self, run_id: str, task_name: str, output_name: str) -> str:
        """Where the output `output_name` of task `task_name` in run `run_id` is kept."""
        for part in (run_id, task_name, output_name):
            if not part or any(seg in ("", ".", "..") for seg in part.split("/")):
                raise StoreError(
                    f"cannot build an artifact URI from {part!r}",
                    uri=self.root,
                    hint="run ids, task names and output names must be non-empty, "
                    "without '.' or '..' segments",
                )
        if self._local_root is not None:
            return str(self._local_root / run_id / task_name / output_name)
        return f"{self.root}/{run_id}/{task_name}/{output_name}"

    def commit(self, source: Path, uri: str, *, root: Path | None = None) -> None:
        """Copy a local file or folder to `uri` atomically (all or nothing), replacing it.

        `source` lies under `root` (the task's folder; default: the source's folder), and is
        copied as data (see pinnace._files): a symbolic link, hard link or special file in
        it, or more files or bytes than `output_limits`, is refused (OutputRefusedError)
        and nothing is stored; no file outside `root` is ever opened."""
        source = Path(os.path.abspath(source))
        root = Path(os.path.abspath(root)) if root is not None else source.parent
        if not os.path.lexists(source):
            raise StoreError(
                f"cannot commit {str(source)!r}: it does not exist",
                uri=uri,
                hint="the task did not write this output; check its log",
            )
        if self._local_root is not None:
            _commit_local(source, self._checked_local(uri), uri, root, self.output_limits)
        else:
            copy_output(root, source, None, _what(uri), self.output_limits)  # check only
            self._commit_remote(source, self._checked_remote(uri), uri)

    def local_path(self, uri: str) -> Path | None:
        """The local path of `uri` when the store is on this machine, else None."""
        if self._local_root is None or _scheme(uri) not in ("", "file"):
            return None
        return self._checked_local(uri)

    def fetch(self, uri: str, dest: Path) -> Path:
        """Download `uri` (file or folder) to `dest`; returns `dest`."""
        dest = Path(dest)
        if not self.exists(uri):
            raise _missing(uri)
        with _translated("fetch artifact", uri):
            dest.parent.mkdir(parents=True, exist_ok=True)
            if self._local_root is not None:
                _copy_local(self._checked_local(uri), dest)
            else:
                self._fetch_remote(self._checked_remote(uri), dest)
        return dest

    def exists(self, uri: str) -> bool:
        if self._local_root is not None:
            return self._checked_local(uri).exists()
        path = self._checked_remote(uri)
        with _translated("check artifact", uri):
            return bool(self._fs.exists(_marker(path)))

    def open(self, uri: str) -> IO[bytes]:
        """A binary file object for reading `uri`; close it when done."""
        if not self.exists(uri):
            raise _missing(uri)
        with _translated("open artifact", uri, hint="folders cannot be opened; use fetch"):
            if self._local_root is not None:
                return self._checked_local(uri).open("rb")
            path = self._checked_remote(uri)
            if self._manifest(path)["kind"] != "file":
                raise IsADirectoryError(f"{uri} is a folder")
            return self._fs.open(path, "rb")  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.root!r})"

    # helpers

    def _checked_local(self, uri: str) -> Path:
        assert self._local_root is not None
        scheme = _scheme(uri)
        raw = uri[len("file://") :] if scheme == "file" else uri
        path = Path(raw)
        if scheme not in ("", "file") or not path.is_absolute() or ".." in path.parts:
            raise self._outside(uri)
        resolved = path.resolve()
        if not resolved.is_relative_to(self._local_root):
            raise self._outside(uri)
        return resolved

    def _checked_remote(self, uri: str) -> str:
        protocols = self._fs.protocol
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        if _scheme(uri) not in protocols:
            raise self._outside(uri)
        path = self._fs._strip_protocol(uri).rstrip("/")
        if ".." in path.split("/") or not (
            path == self._root_path or path.startswith(self._root_path + "/")
        ):
            raise self._outside(uri)
        return str(path)

    def _outside(self, uri: str) -> StoreError:
        return StoreError(
            f"artifact URI is outside the artifact store root {self.root!r}",
            uri=uri,
            hint="artifacts are read and written only under the store root; "
            "use uri_for() to build URIs",
        )

    def _commit_remote(self, source: Path, path: str, uri: str) -> None:
        marker = _marker(path)
        files = _relative_files(source) if source.is_dir() else None
        with _translated("commit artifact", uri):
            # Invisible from here on: readers see the old artifact or nothing, never a mix.
            if self._fs.exists(marker):
                self._fs.rm_file(marker)
            if self._fs.exists(path):
                self._fs.rm(path, recursive=True)
            if files is None:
                self._fs.put_file(str(source), path)
            else:
                for rel in files:
                    self._fs.put_file(str(source / rel), f"{path}/{rel}")
            manifest = {"kind": "file" if files is None else "folder", "files": files or []}
            self._fs.pipe_file(marker, json.dumps(manifest).encode("utf-8"))

    def _manifest(self, path: str) -> dict[str, Any]:
        try:
            data = json.loads(self._fs.cat_file(_marker(path)))
        except FileNotFoundError:
            raise _missing(path) from None
        if not isinstance(data, dict) or data.get("kind") not in ("file", "folder"):
            raise StoreError("the artifact's commit marker is damaged", uri=_marker(path))
        return data

    def _fetch_remote(self, path: str, dest: Path) -> None:
        manifest = self._manifest(path)
        if manifest["kind"] == "file":
            self._fs.get_file(path, str(dest))
            return
        dest.mkdir(parents=True, exist_ok=True)
        for rel in manifest["files"]:
            if not isinstance(rel, str) or ".." in rel.split("/") or rel.startswith("/"):
                raise StoreError(f"the artifact's commit marker lists {rel!r}", uri=path)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self._fs.get_file(f"{path}/{rel}", str(target))


def _marker(path: str) -> str:
    parent, _, name = path.rpartition("/")
    return f"{parent}/.{name}{COMMIT_MARKER}"


def _relative_files(folder: Path) -> list[str]:
    """Every file under `folder` (links followed, as a local commit copies them), sorted."""
    found = []
    for root, _dirs, names in os.walk(folder, followlinks=True):
        for name in names:
            found.append((Path(root) / name).relative_to(folder).as_posix())
    return sorted(found)


def _what(uri: str) -> str:
    return "output " + repr(uri.rstrip("/").rpartition("/")[2])


def _commit_local(source: Path, dest: Path, uri: str, root: Path, limits: OutputLimits) -> None:
    if not source.is_symlink() and source.resolve() == dest:
        return  # the task wrote straight into the store: already in place
    dest.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    tmp = dest.with_name(f".{dest.name}.pinnace-tmp-{token}")
    old = dest.with_name(f".{dest.name}.pinnace-old-{token}")
    try:
        with _translated("commit artifact", uri):
            copy_output(root, source, tmp, _what(uri), limits)
            if dest.exists() and (dest.is_dir() or tmp.is_dir()):
                # rename() cannot replace a folder: move the old one aside, then swap.
                os.replace(dest, old)
                try:
                    os.replace(tmp, dest)
                except OSError:
                    os.replace(old, dest)
                    raise
            else:
                os.replace(tmp, dest)  # atomic, replacing any earlier file
    finally:
        for leftover in (tmp, old):
            _quietly(_remove_local, leftover)


def _copy_local(source: Path, dest: Path) -> None:
    # Symlinks are copied as the files they point to: the store never holds a link
    # that leads outside its root.
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(source, dest)


def _remove_local(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _quietly(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a best-effort clean-up step whose failure must not hide the original error."""
    try:
        return action(*args, **kwargs)
    except Exception:
        return None


def _scheme(uri: str) -> str:
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else ""


def _missing(uri: str) -> NotFoundError:
    return NotFoundError(
        f"artifact not found: {uri}",
        hint="the task may not have produced it, or the artifact root changed since the run",
    )


def _driver_hint(scheme: str) -> str:
    package = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
    return f"install the fsspec back-end for {scheme}://: pip install {package.get(scheme, scheme)}"


@contextmanager
def _translated(action: str, uri: str, hint: str | None = None) -> Iterator[None]:
    """Turn OS and fsspec back-end errors into `StoreError` naming the URI."""
    try:
        yield
    except PinnaceError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot {action}: {exc}", uri=uri, hint=hint) from exc
