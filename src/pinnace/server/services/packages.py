"""Pipeline packages: the spec inside an uploaded file (YAML, JSON, zip or gzipped tarball),
read in memory within a size limit; kfp 1.x Argo workflows are converted."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import PurePosixPath
from typing import Any

from ...errors import SpecError, UserInputError
from ...spec.load import load_spec
from ...spec.yaml_safe import YamlLimits
from ..errors import PayloadTooLargeError

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def read_pipeline_package(filename: str, data: bytes, max_bytes: int) -> dict[str, Any]:
    """The pipeline spec (IR) in an uploaded file: YAML/JSON, or the first spec in a
    zip or gzipped tarball. kfp 1.x Argo workflows are converted."""
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"the file is over the limit of {max_bytes} bytes")
    if data[:4] == b"PK\x03\x04":
        data, filename = _from_zip(data, max_bytes)
    elif data[:2] == b"\x1f\x8b":
        data, filename = _from_tarball(data, max_bytes)
    elif not filename.lower().endswith(_SPEC_SUFFIXES) and filename:
        raise UserInputError(
            f"unexpected file {filename!r}",
            hint="upload a .yaml, .yml, .json, .zip or .tar.gz file",
        )
    limits = YamlLimits(max_bytes=max_bytes)
    return load_spec(
        data, path_hint=PurePosixPath(filename).name or "upload", limits=limits
    ).pipeline_spec


def _from_zip(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir() and info.filename.lower().endswith(_SPEC_SUFFIXES):
                    if info.file_size > max_bytes:
                        raise PayloadTooLargeError("the pipeline file in the zip is too large")
                    with archive.open(info) as member:
                        return _bounded(member.read(max_bytes + 1), max_bytes), info.filename
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SpecError(f"not a readable zip file: {exc}") from None
    raise SpecError("the zip file holds no .yaml, .yml or .json pipeline file")


def _from_tarball(data: bytes, max_bytes: int) -> tuple[bytes, str]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if member.isfile() and member.name.lower().endswith(_SPEC_SUFFIXES):
                    if member.size > max_bytes:
                        raise PayloadTooLargeError("the pipeline file in the tarball is too large")
                    handle = archive.extractfile(member)
                    if handle is not None:  # read in memory only: nothing touches the disk
                        return _bounded(handle.read(max_bytes + 1), max_bytes), member.name
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SpecError(f"not a readable gzipped tarball: {exc}") from None
    raise SpecError("the tarball holds no .yaml, .yml or .json pipeline file")


def _bounded(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"the pipeline file is over {max_bytes} bytes unpacked")
    return data
