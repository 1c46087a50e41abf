"""Artifacts outside the artifact store (imported URIs): telling them apart, fetching them.

The artifact store refuses URIs outside its root by design; an imported artifact is read
where it is: local paths and file:// URIs in place, other schemes fetched with fsspec into a
cache folder, once per version of the object: a copy is keyed by the URI and the object's
fingerprint (fsspec's `ukey`: size, modification time, ETag), so a mutable
`s3://bucket/latest.csv` that changes is fetched again, and an unchanged one is not.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from ..errors import StoreError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_external(uri: str, store_root: str) -> bool:
    """Whether `uri` lies outside the artifact store (an imported artifact)."""
    root = store_root.rstrip("/")
    local = _local(uri)
    if local is not None and _local(root) is not None:
        return not Path(local).resolve().is_relative_to(Path(_local(root) or "/").resolve())
    return not (uri == root or uri.startswith(root + "/"))


def local_copy(uri: str, cache_dir: Path) -> Path:
    """A local path holding `uri`: the file itself when local, else a fetched copy."""
    local = _local(uri)
    if local is not None:
        if not Path(local).exists():
            raise StoreError(
                f"imported artifact {uri!r} does not exist",
                uri=uri,
                hint="check the importer's artifact_uri",
            )
        return Path(local)
    filesystem = _filesystem(uri)
    folder = cache_dir / uuid.uuid5(uuid.NAMESPACE_URL, uri).hex / _fingerprint(filesystem, uri)
    dest = folder / Path(uri.rstrip("/")).name
    if dest.exists():
        return dest
    staging = folder / f".staging-{uuid.uuid4().hex}"
    try:
        staging.parent.mkdir(parents=True, exist_ok=True)
        filesystem.get(uri, str(staging), recursive=filesystem.isdir(uri))
        staging.rename(dest)
    except Exception as exc:  # fsspec back-ends raise anything: network, auth, missing
        shutil.rmtree(staging, ignore_errors=True)
        staging.unlink(missing_ok=True)
        raise StoreError(
            f"cannot fetch imported artifact {uri!r}: {type(exc).__name__}: {exc}",
            uri=uri,
            hint="check the URI, network access and credentials",
        ) from None
    return dest


def _fingerprint(filesystem: Any, uri: str) -> str:
    """What tells one version of the object at `uri` from another (a short hash)."""
    try:
        key = str(filesystem.ukey(uri))
    except Exception as exc:  # fsspec back-ends raise anything: network, auth, missing
        raise StoreError(
            f"cannot read imported artifact {uri!r}: {type(exc).__name__}: {exc}",
            uri=uri,
            hint="check the URI, network access and credentials",
        ) from None
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _filesystem(uri: str) -> Any:
    scheme = _SCHEME.match(uri)
    protocol = scheme.group(1) if scheme else ""
    try:
        from fsspec import get_filesystem_class
        from fsspec.core import url_to_fs

        get_filesystem_class(protocol)
        return url_to_fs(uri)[0]
    except (ImportError, ValueError) as exc:
        raise StoreError(
            f"cannot read imported artifact {uri!r}: no filesystem for {protocol!r}:// ({exc})",
            uri=uri,
            hint=f"install the fsspec package for {protocol}:// (e.g. gcsfs, s3fs, "
            "adlfs) or import a local path",
        ) from None


def _local(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return None if _SCHEME.match(uri) else uri
