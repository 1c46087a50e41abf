"""The cached kfp 1.8.22 venv the tests run the real kfp 1.x SDK in (it cannot share kfp 2's).

Built once with uv from the package index under ~/.cache/pinnace-test/kfp18 (or
$PINNACE_TEST_CACHE/kfp18); tests that use it are marked `index`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: setuptools brings back `distutils` (gone in Python 3.12), which kfp 1.8 still imports
KFP1 = ("kfp==1.8.22", "setuptools<81")


def kfp1_python() -> Path:
    """The interpreter of the cached kfp 1.8 venv, built aside and moved into place."""
    cache = Path(os.environ.get("PINNACE_TEST_CACHE") or Path.home() / ".cache" / "pinnace-test")
    root = cache / "kfp18"
    python = root / "bin" / "python"
    if python.exists():
        return python
    from uv import find_uv_bin

    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="kfp18-", dir=cache))
    uv = find_uv_bin()
    try:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(staging)], check=True)
        install = [uv, "pip", "install", "-q", "--python", str(staging / "bin" / "python"), *KFP1]
        subprocess.run(install, check=True, timeout=900)
        os.replace(staging, root)
    except OSError:
        if not python.exists():  # not a concurrent build that finished first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return python
