"""A full disk: the run fails with the real reason, partial files go, reading still works."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fault_support import PINNACE, REPO, clean_env

DISK_HOG = REPO / "tests" / "fixtures" / "faults" / "disk_hog.py"


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 30 MB tmpfs (CI runs as root and may mount one)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def pinnace(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PINNACE), "--home", str(home), *args],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_full_disk_fails_the_run_with_the_reason_and_leaves_room(small_disk):
    home = small_disk / "home"
    run = pinnace(home, "run", str(DISK_HOG), "--use-current-python", "-p", "megabytes=40")
    assert run.returncode == 1, run.stderr
    reason = "no space left on device while writing output 'model' of task 'train-model'"
    assert reason in run.stderr
    # The partial output is gone: the disk has room again.
    assert shutil.disk_usage(small_disk).used < 10_000_000
    listed = pinnace(home, "runs", "list")
    assert listed.returncode == 0 and "FAILED" in listed.stdout
    run_id = listed.stdout.split()[0]
    shown = pinnace(home, "runs", "show", run_id)
    assert shown.returncode == 0 and reason in shown.stdout
    logs = pinnace(home, "logs", run_id)
    assert logs.returncode == 0 and "No space left on device" in logs.stdout


def test_reading_commands_work_while_the_disk_is_full(small_disk):
    home = small_disk / "home"
    assert pinnace(home, "run", str(DISK_HOG), "--use-current-python").returncode == 0
    filler = small_disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True)
    assert shutil.disk_usage(small_disk).free < 1_000_000
    listed = pinnace(home, "runs", "list")
    assert listed.returncode == 0 and "SUCCEEDED" in listed.stdout, listed.stderr
    run_id = listed.stdout.split()[0]
    assert pinnace(home, "runs", "show", run_id).returncode == 0
    assert pinnace(home, "logs", run_id).returncode == 0
