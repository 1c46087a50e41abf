"""Files embedded in a lightweight component (`embedded_artifact_path=`, `dsl.EmbeddedInput`).

The files travel inside the component's program as a base64 gzip'd tar archive; at run time
the program unpacks them into a temporary folder, puts that folder on `sys.path` and names
it in `__KFP_EMBEDDED_ASSET_DIR` (and the file in `__KFP_EMBEDDED_ASSET_FILE` when one file
was embedded), the globals kfp's executor and Pinnace's runtime read for `EmbeddedInput`.
Unlike kfp's, the archive is reproducible (no timestamps or owners): the same files give the
same spec, so the cache keys stay put.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
import warnings
from pathlib import Path

from ..errors import CompileError

_UNPACK = """__KFP_EMBEDDED_ARCHIVE_B64 = '{archive}'

import base64 as __kfp_b64
import io as __kfp_io
import sys as __kfp_sys
import tarfile as __kfp_tarfile
import tempfile as __kfp_tempfile

# Unpacked once, when the program is imported, into a folder that lives as long as it runs.
__kfp_tmpdir = __kfp_tempfile.TemporaryDirectory()
__KFP_EMBEDDED_ASSET_DIR = __kfp_tmpdir.name
with __kfp_tarfile.open(
    fileobj=__kfp_io.BytesIO(__kfp_b64.b64decode(__KFP_EMBEDDED_ARCHIVE_B64)), mode='r:gz'
) as __kfp_archive:
    __kfp_archive.extractall(path=__KFP_EMBEDDED_ASSET_DIR)
if __KFP_EMBEDDED_ASSET_DIR not in __kfp_sys.path:
    __kfp_sys.path.insert(0, __KFP_EMBEDDED_ASSET_DIR)
{file_line}"""


def archive(path: str | Path) -> str:
    """The files at `path` (a file or a folder) as a reproducible base64 .tar.gz."""
    source = Path(path)
    if not source.exists():
        raise CompileError(
            f"embedded_artifact_path does not exist: {path}",
            hint="give the path of a file or folder to embed in the component",
        )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        members = [source] if source.is_file() else sorted(source.rglob("*"))
        for member in members:
            name = member.name if source.is_file() else member.relative_to(source).as_posix()
            info = tar.gettarinfo(str(member), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if member.is_file():
                with member.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    packed = gzip.compress(buffer.getvalue(), mtime=0)
    if len(packed) > 1024 * 1024:
        warnings.warn(
            f"Embedded artifact archive is large ({len(packed) / 2**20:.1f}MB compressed). "
            "Consider moving large assets to a container image or object store.",
            UserWarning,
            stacklevel=4,
        )
    return base64.b64encode(packed).decode("ascii")


def unpack_source(path: str | Path) -> str:
    """The program lines that unpack the embedded files when the component starts."""
    source = Path(path)
    file_line = ""
    if source.is_file():
        file_line = (
            "\nimport os as __kfp_os\n__KFP_EMBEDDED_ASSET_FILE = "
            f"__kfp_os.path.join(__KFP_EMBEDDED_ASSET_DIR, {source.name!r})\n"
        )
    return _UNPACK.format(archive=archive(source), file_line=file_line)
