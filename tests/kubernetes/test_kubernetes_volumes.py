"""kfp-kubernetes volumes on a local run: PVCs, empty dirs, secrets and config maps as files."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace import api, dsl, kubernetes
from pinnace.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

MOUNT_POINTS = ["/mnt/data", "/mnt/scratch", "/mnt/creds", "/mnt/app"]


@pytest.fixture(autouse=True)
def _no_leftover_mount_points():
    """Without the sandbox, bwrap (run by root) makes a missing mount point on this machine:
    remove the ones these tests made."""
    before = {path for path in MOUNT_POINTS if os.path.exists(path)}
    yield
    for path in set(MOUNT_POINTS) - before:
        with contextlib.suppress(OSError):
            os.rmdir(path)


@dsl.component
def write_file(path: str, text: str) -> str:
    import os

    with open(path, "w") as handle:
        handle.write(text)
    return ",".join(sorted(os.listdir(os.path.dirname(path))))


@dsl.component
def read_file(path: str) -> str:
    import os

    if not os.path.exists(path):
        return "<absent>"
    with open(path) as handle:
        return handle.read()


@dsl.component
def file_mode(path: str) -> str:
    import os
    import stat

    with open(path) as handle:
        return f"{oct(stat.S_IMODE(os.stat(path).st_mode))} {handle.read()}"


@dsl.pipeline(name="pvc-share")
def pvc_share(text: str = "hello"):
    writer = write_file(path="/mnt/data/note.txt", text=text)
    kubernetes.mount_pvc(writer, "shared-data", "/mnt/data")
    reader = read_file(path="/mnt/data/note.txt").after(writer)
    reader.set_caching_options(False)  # as on Kubeflow, a cache key knows nothing of volumes
    kubernetes.mount_pvc(reader, "shared-data", "/mnt/data")


@dsl.pipeline(name="empty-dirs")
def empty_dirs():
    writer = write_file(path="/mnt/scratch/e.txt", text="mine")
    kubernetes.empty_dir_mount(writer, "scratch", "/mnt/scratch")
    reader = read_file(path="/mnt/scratch/e.txt").after(writer)
    kubernetes.empty_dir_mount(reader, "scratch", "/mnt/scratch")


@dsl.pipeline(name="secret-files")
def secret_files():
    secret = file_mode(path="/mnt/creds/password")
    kubernetes.use_secret_as_volume(secret, "db", "/mnt/creds")
    setting = file_mode(path="/mnt/app/level")
    kubernetes.use_config_map_as_volume(setting, "settings", "/mnt/app")


def _pinnace(home: Path, *args: str) -> None:
    pinnace = Path(sys.executable).parent / "pinnace"
    subprocess.run([str(pinnace), "--home", str(home), *args], capture_output=True, check=True)


def _run(pipeline, home: Path, **arguments):
    settings = Settings.load(home=str(home))
    return api.run(pipeline, arguments or None, settings=settings, use_current_python=True)


def test_a_pvc_is_shared_by_the_tasks_and_kept_across_runs(tmp_path):
    home = tmp_path / "home"
    result = _run(pvc_share, home)
    assert result.state == "SUCCEEDED", result.error
    assert result.task("read-file").outputs["Output"] == "hello"
    folder = home / "volumes" / "local" / "shared-data"
    assert (folder / "note.txt").read_text() == "hello"
    (folder / "earlier.txt").write_text("kept")
    again = _run(pvc_share, home, text="second")
    assert again.state == "SUCCEEDED", again.error
    assert again.task("write-file").outputs["Output"] == "earlier.txt,note.txt"
    assert again.task("read-file").outputs["Output"] == "second"


def test_an_empty_dir_belongs_to_one_task_and_goes_with_it(tmp_path):
    home = tmp_path / "home"
    result = _run(empty_dirs, home)
    assert result.state == "SUCCEEDED", result.error
    assert result.task("write-file").outputs["Output"] == "e.txt"
    # as in Kubernetes, an empty dir is its pod's: the next task starts with an empty one
    assert result.task("read-file").outputs["Output"] == "<absent>"
    assert not list((home / "volumes").rglob("e.txt"))


def test_secrets_and_config_maps_mount_as_files(tmp_path):
    home = tmp_path / "home"
    _pinnace(home, "secrets", "set", "db", "password=s3cret")
    _pinnace(home, "configmaps", "set", "settings", "level=debug")
    result = _run(secret_files, home)
    assert result.state == "SUCCEEDED", result.error
    assert result.task("file-mode").outputs["Output"] == "0o600 s3cret"
    assert result.task("file-mode-2").outputs["Output"] == "0o644 debug"
    assert "s3cret" not in Path(result.task("file-mode").log_path).read_text()
    assert not list((home / "volumes").rglob("password"))  # removed with the execution


def test_a_missing_secret_volume_fails_the_task(tmp_path):
    home = tmp_path / "home"
    _pinnace(home, "configmaps", "set", "settings", "level=debug")
    result = _run(secret_files, home)
    assert result.state == "FAILED"
    assert "pinnace secrets set" in (result.task("file-mode").error or result.error or "")
    assert not (home / "volumes" / ".executions").exists() or not any(
        (home / "volumes" / ".executions").iterdir()
    )


@dsl.pipeline(name="pvc-lifecycle")
def pvc_lifecycle():
    pvc = kubernetes.CreatePVC(
        pvc_name_suffix="-my-pvc", access_modes=["ReadWriteOnce"], size="1Gi"
    )
    writer = write_file(path="/mnt/data/note.txt", text="made")
    kubernetes.mount_pvc(writer, pvc.outputs["name"], "/mnt/data")
    reader = read_file(path="/mnt/data/note.txt").after(writer)
    kubernetes.mount_pvc(reader, pvc.outputs["name"], "/mnt/data")
    kubernetes.DeletePVC(pvc_name=pvc.outputs["name"]).after(reader)


def test_create_pvc_makes_a_named_volume_and_delete_pvc_removes_it(tmp_path):
    home = tmp_path / "home"
    result = _run(pvc_lifecycle, home)
    assert result.state == "SUCCEEDED", result.error
    name = result.task("createpvc").outputs["name"]
    assert name.endswith("-my-pvc")
    assert result.task("read-file").outputs["Output"] == "made"
    assert not (home / "volumes" / "local" / name).exists()


def test_delete_pvc_of_an_unknown_volume_fails(tmp_path):
    @dsl.pipeline(name="pvc-delete")
    def pvc_delete():
        kubernetes.DeletePVC(pvc_name="never-made")

    result = _run(pvc_delete, tmp_path / "home")
    assert result.state == "FAILED"
    assert "never-made" in (result.task("deletepvc").error or result.error or "")


def test_without_bubblewrap_a_task_with_volumes_fails_saying_what_to_install(tmp_path, monkeypatch):
    from pinnace.executors import local

    which = shutil.which
    monkeypatch.setattr(
        local.shutil,
        "which",
        lambda name, *a, **k: None if name == "bwrap" else which(name, *a, **k),
    )
    result = _run(pvc_share, tmp_path / "home")
    assert result.state == "FAILED"
    log = Path(result.task("write-file").log_path).read_text()
    assert "bwrap is not on this machine" in log and "apt-get install bubblewrap" in log
