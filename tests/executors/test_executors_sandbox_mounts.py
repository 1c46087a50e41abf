"""Volumes (kfp-kubernetes) inside the step sandbox: bound at their paths, read-only ones too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.executors import _sandbox
from pinnace.executors._sandbox import Sandbox
from pinnace.executors.base import Mount

pytestmark = pytest.mark.skipif(_sandbox.shutil.which("bwrap") is None, reason="needs bwrap")

SCRIPT = """
import os, stat
with open("/mnt/data/out.txt", "w") as handle:
    handle.write("written")
with open("/mnt/creds/password") as handle:
    print(handle.read(), oct(stat.S_IMODE(os.stat("/mnt/creds/password").st_mode)))
try:
    open("/mnt/creds/new", "w")
except OSError:
    print("read-only")
"""


def test_a_sandboxed_step_sees_its_volumes_at_their_mount_paths(tmp_path: Path) -> None:
    pvc, secret, work = tmp_path / "pvc", tmp_path / "secret", tmp_path / "work"
    for folder in (pvc, secret, work):
        folder.mkdir()
    (secret / "password").write_text("s3cret")
    os.chmod(secret / "password", 0o600)
    mounts = [Mount(str(pvc), "/mnt/data"), Mount(str(secret), "/mnt/creds", read_only=True)]
    argv = Sandbox.require().wrap(
        [sys.executable, "-c", SCRIPT],
        workdir=work,
        read_only=_sandbox.python_paths(sys.executable),
        mounts=mounts,
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["s3cret", "0o600", "read-only"]
    assert (pvc / "out.txt").read_text() == "written"
