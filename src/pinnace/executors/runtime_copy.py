"""Materialising the in-task runtime as a stand-alone package a task's Python can import.

The runtime (pinnace/runtime/) uses only the standard library and relative imports, so it is
copied once per content hash to `<home>/runtime/<hash>/pinnace_runtime/` and put on the task's
PYTHONPATH; nothing else of Pinnace (or of the host's site-packages) leaks into the task.
The copy is byte-compiled when it is made: tasks often run with PYTHONDONTWRITEBYTECODE
set, and recompiling the runtime would cost every task ~35 ms.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

RUNTIME_PACKAGE = "pinnace_runtime"
#: part of the copy's content hash: bump when the layout of a copy changes (2: with .pyc)
_LAYOUT = b"2"


def runtime_source() -> Path:
    return Path(__file__).resolve().parent.parent / "runtime"


def materialize_runtime(home: Path) -> Path:
    """Return a folder to put on PYTHONPATH so that `python -m pinnace_runtime` works."""
    source = runtime_source()
    files = sorted(p for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    digest = hashlib.sha256(_LAYOUT)
    for path in files:
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    target = home / "runtime" / digest.hexdigest()[:16]
    if (target / RUNTIME_PACKAGE / "__main__.py").exists():
        if target.stat().st_mode & 0o005 != 0o005:  # a copy made before steps ran as nobody
            target.chmod(0o755)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    staging.chmod(0o755)  # a sandboxed step (another user) reads it
    for path in files:
        dest = staging / RUNTIME_PACKAGE / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    # ddir: tracebacks name the final folder, not the staging one (the import system also
    # fixes the file names up when it loads the .pyc from elsewhere).
    compileall.compile_dir(staging, ddir=str(target), quiet=1, workers=1, legacy=False, force=True)
    try:
        os.rename(staging, target)
    except OSError:  # another process won the race; its copy is identical
        shutil.rmtree(staging, ignore_errors=True)
    return target
