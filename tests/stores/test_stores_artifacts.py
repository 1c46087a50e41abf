"""FsspecArtifactStore: local folders, memory:// and S3 (a real moto server), atomic commits,
URIs kept inside the root."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from pinnace.errors import NotFoundError, OutputRefusedError, StoreError
from pinnace.stores import open_artifact_store
from pinnace.stores.artifacts import FsspecArtifactStore


def make_folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "a.txt").write_text("alpha")
    (path / "sub" / "b.bin").write_bytes(b"\x00\x01beta")
    return path


def make_file(path: Path, text: str = "hello") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FsspecArtifactStore:
    if request.param == "local":
        return FsspecArtifactStore(str(tmp_path / "artifacts"))
    if request.param == "s3":
        return FsspecArtifactStore(request.getfixturevalue("s3").root())
    return FsspecArtifactStore(f"memory://pinnace-test-{uuid.uuid4().hex}")


# both back-ends


def test_file_commit_open_exists_fetch(store: FsspecArtifactStore, tmp_path: Path) -> None:
    uri = store.uri_for("run-1", "train", "model")
    assert not store.exists(uri)
    store.commit(make_file(tmp_path / "src" / "model.pkl", "weights"), uri)
    assert store.exists(uri)
    with store.open(uri) as f:
        assert f.read() == b"weights"
    dest = store.fetch(uri, tmp_path / "out" / "model.pkl")
    assert dest.read_text() == "weights"


def test_folder_commit_and_fetch(store: FsspecArtifactStore, tmp_path: Path) -> None:
    uri = store.uri_for("run-1", "prep", "dataset")
    store.commit(make_folder(tmp_path / "src"), uri)
    dest = store.fetch(uri, tmp_path / "fetched")
    assert listing(dest) == {"a.txt": b"alpha", "sub/b.bin": b"\x00\x01beta"}


def test_commit_replaces_an_earlier_artifact(store: FsspecArtifactStore, tmp_path: Path) -> None:
    uri = store.uri_for("r", "t", "o")
    store.commit(make_folder(tmp_path / "first"), uri)
    second = tmp_path / "second"
    make_file(second / "only.txt", "new")
    store.commit(second, uri)
    assert listing(store.fetch(uri, tmp_path / "f1")) == {"only.txt": b"new"}
    store.commit(make_file(tmp_path / "file.txt", "now a file"), uri)
    assert store.fetch(uri, tmp_path / "f2").read_text() == "now a file"


def test_missing_artifacts_and_sources(store: FsspecArtifactStore, tmp_path: Path) -> None:
    uri = store.uri_for("r", "t", "absent")
    with pytest.raises(NotFoundError):
        store.open(uri)
    with pytest.raises(NotFoundError):
        store.fetch(uri, tmp_path / "x")
    with pytest.raises(StoreError, match="does not exist"):
        store.commit(tmp_path / "never-written", uri)
    assert not store.exists(uri)


def test_uri_for_refuses_parts_that_would_leave_the_root(store: FsspecArtifactStore) -> None:
    for bad in [("..", "t", "o"), ("r", "../../etc", "o"), ("r", "t", ""), ("r", "a//b", "o")]:
        with pytest.raises(StoreError, match="cannot build an artifact URI"):
            store.uri_for(*bad)
    # nested task paths are fine
    assert store.uri_for("r", "outer/inner", "o").endswith("/r/outer/inner/o")


def test_uris_outside_the_root_are_refused(store: FsspecArtifactStore, tmp_path: Path) -> None:
    inside = store.uri_for("r", "t", "o")
    outside = [
        inside.replace("/r/t/o", "/r/../../escape"),
        inside.replace("/r/t/o", "/../sibling/x"),
        "/etc/passwd",
        "memory://elsewhere/x" if "://" not in store.root else "/etc/passwd",
        "s3://bucket/key",
    ]
    source = make_file(tmp_path / "f.txt")
    for uri in outside:
        for action in (
            lambda u: store.exists(u),
            lambda u: store.open(u),
            lambda u: store.fetch(u, tmp_path / "dest"),
            lambda u: store.commit(source, u),
        ):
            with pytest.raises(StoreError, match="outside the artifact store root"):
                action(uri)
    assert not (tmp_path / "dest").exists()


# local folders


def test_local_uris_are_plain_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = FsspecArtifactStore("relative/root")
    uri = store.uri_for("r", "t", "o")
    assert uri == str(tmp_path / "relative" / "root" / "r" / "t" / "o")
    assert store.local_path(uri) == Path(uri)
    assert store.local_path("file://" + uri) == Path(uri)
    assert store.local_path("s3://bucket/r/t/o") is None
    assert FsspecArtifactStore("file://" + str(tmp_path)).root == str(tmp_path)


def test_local_commit_of_a_path_already_in_place_is_a_no_op(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path))
    uri = store.uri_for("r", "t", "o")
    make_file(Path(uri), "written by the task")
    store.commit(Path(uri), uri)
    assert Path(uri).read_text() == "written by the task"
    assert sorted(p.name for p in Path(uri).parent.iterdir()) == ["o"]


def test_symlinks_leading_out_of_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    secret = make_file(tmp_path / "secret" / "key.txt", "private")
    (root / "r").mkdir(parents=True)
    (root / "r" / "t").symlink_to(secret.parent)
    store = FsspecArtifactStore(str(root))
    uri = str(root / "r" / "t" / "key.txt")
    with pytest.raises(StoreError, match="outside"):
        store.open(uri)
    with pytest.raises(StoreError, match="outside"):
        store.local_path(uri)
    with pytest.raises(StoreError, match="outside"):
        store.commit(make_file(tmp_path / "evil.txt", "overwrite"), uri)
    assert secret.read_text() == "private"


@pytest.mark.parametrize("inside", [True, False])
def test_links_in_outputs_are_refused_and_nothing_is_stored(tmp_path: Path, inside) -> None:
    store = FsspecArtifactStore(str(tmp_path / "root"))
    source = make_folder(tmp_path / "src")
    target = source / "a.txt" if inside else make_file(tmp_path / "target.txt", "secret")
    (source / "sub" / "link.txt").symlink_to(target)
    uri = store.uri_for("r", "t", "o")
    with pytest.raises(OutputRefusedError, match=r"sub/link.txt\) is a symbolic link"):
        store.commit(source, uri, root=tmp_path)
    assert not Path(uri).exists() and list(Path(uri).parent.iterdir()) == []


def test_special_files_hard_links_and_linked_outputs_are_refused(tmp_path: Path) -> None:
    store = FsspecArtifactStore(str(tmp_path / "root"))
    uri = store.uri_for("r", "t", "o")
    work = tmp_path / "work"
    fifo = work / "fifo"
    work.mkdir()
    os.mkfifo(fifo)  # opening it for reading would block a naive copy forever
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(work / "socket"))  # opening it fails (ENXIO): still a special file
    hard = work / "hard"
    os.link(make_file(tmp_path / "elsewhere.db", "db"), hard)
    (work / "whole").symlink_to(tmp_path / "elsewhere.db")
    (work / "dangling").symlink_to(tmp_path / "nowhere" / "pinnace.db")
    for name, problem in [
        ("fifo", "special file"),
        ("socket", "special file"),
        ("hard", "hard link"),
        ("whole", "symbolic link"),
        ("dangling", "symbolic link"),
    ]:
        with pytest.raises(OutputRefusedError, match=problem):
            store.commit(work / name, uri, root=work)
    assert not (tmp_path / "nowhere").exists()  # a dangling link's target is never created
    assert not Path(uri).exists()
    listening.close()


def test_output_limits_on_files_and_bytes(tmp_path: Path) -> None:
    from pinnace._files import OutputLimits

    source = make_folder(tmp_path / "src")  # 2 files, 11 bytes
    few = FsspecArtifactStore(str(tmp_path / "a"), output_limits=OutputLimits(max_files=1))
    with pytest.raises(OutputRefusedError, match="more than 1 files"):
        few.commit(source, few.uri_for("r", "t", "o"))
    small = FsspecArtifactStore(str(tmp_path / "b"), output_limits=OutputLimits(max_bytes=8))
    with pytest.raises(OutputRefusedError, match="over 8 bytes"):
        small.commit(source, small.uri_for("r", "t", "o"))
    fits = FsspecArtifactStore(str(tmp_path / "c"), output_limits=OutputLimits(2, 11))
    fits.commit(source, fits.uri_for("r", "t", "o"))


def _fail_on_second_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    import pinnace._files as files

    real_copy = files._copy_file
    calls = []

    def flaky_copy(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(files, "_copy_file", flaky_copy)


def test_local_folder_commit_failing_midway_leaves_nothing(tmp_path, monkeypatch) -> None:
    store = FsspecArtifactStore(str(tmp_path / "root"))
    uri = store.uri_for("r", "t", "o")
    source = make_folder(tmp_path / "src")
    _fail_on_second_copy(monkeypatch)
    with pytest.raises(StoreError, match="No space left") as info:
        store.commit(source, uri)
    assert uri in str(info.value)
    assert not Path(uri).exists()
    assert list(Path(uri).parent.iterdir()) == []  # no temporary leftovers


def test_local_failed_replace_keeps_the_earlier_artifact_whole(tmp_path, monkeypatch) -> None:
    store = FsspecArtifactStore(str(tmp_path / "root"))
    uri = store.uri_for("r", "t", "o")
    store.commit(make_folder(tmp_path / "v1"), uri)
    real_replace = os.replace

    def failing_replace(src, dst):
        if ".pinnace-tmp-" in str(src):
            raise OSError(5, "I/O error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StoreError, match="I/O error"):
        store.commit(make_file(tmp_path / "v2" / "new.txt").parent, uri)
    assert listing(Path(uri)) == {"a.txt": b"alpha", "sub/b.bin": b"\x00\x01beta"}
    assert [p.name for p in Path(uri).parent.iterdir()] == ["o"]


# memory:// (any remote fsspec back-end)


def test_memory_uris_keep_their_scheme_and_have_no_local_path() -> None:
    store = FsspecArtifactStore("memory://bucket/prefix/")
    uri = store.uri_for("r", "t", "o")
    assert uri == "memory://bucket/prefix/r/t/o"
    assert store.local_path(uri) is None


@pytest.fixture(params=["memory", "s3"])
def remote(request: pytest.FixtureRequest) -> FsspecArtifactStore:
    if request.param == "s3":
        return FsspecArtifactStore(request.getfixturevalue("s3").root())
    return FsspecArtifactStore(f"memory://atomic-{uuid.uuid4().hex}")


def _fail_on_second_upload(store: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = store._fs.put_file
    calls = []

    def flaky_put(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise ConnectionError("connection reset by peer")
        return real_put(*args, **kwargs)

    monkeypatch.setattr(store._fs, "put_file", flaky_put)


def test_remote_folder_commit_failing_midway_is_never_visible(
    remote: FsspecArtifactStore, tmp_path, monkeypatch
) -> None:
    uri = remote.uri_for("r", "t", "o")
    _fail_on_second_upload(remote, monkeypatch)
    with pytest.raises(StoreError, match="connection reset"):
        remote.commit(make_folder(tmp_path / "src"), uri)
    # one object was uploaded, but without its commit marker the artifact does not exist
    assert remote._fs.find(uri)
    assert not remote.exists(uri)
    with pytest.raises(NotFoundError):
        remote.fetch(uri, tmp_path / "half")
    assert not (tmp_path / "half").exists()


def test_remote_replace_hides_the_artifact_until_the_new_one_is_whole(
    remote: FsspecArtifactStore, tmp_path, monkeypatch
) -> None:
    uri = remote.uri_for("r", "t", "o")
    remote.commit(make_folder(tmp_path / "v1"), uri)
    seen: list[bool] = []
    real_put = remote._fs.put_file

    def watching_put(*args, **kwargs):
        seen.append(remote.exists(uri))  # what a reader sees while the new version uploads
        return real_put(*args, **kwargs)

    monkeypatch.setattr(remote._fs, "put_file", watching_put)
    v2 = tmp_path / "v2"
    make_file(v2 / "x.txt", "new x")
    make_file(v2 / "deep" / "y.txt", "new y")
    remote.commit(v2, uri)
    assert seen == [False, False]
    assert listing(remote.fetch(uri, tmp_path / "got")) == {
        "deep/y.txt": b"new y",
        "x.txt": b"new x",
    }


def test_remote_fetch_takes_only_the_committed_files(remote: FsspecArtifactStore, tmp_path) -> None:
    uri = remote.uri_for("r", "t", "o")
    remote.commit(make_folder(tmp_path / "src"), uri)
    remote._fs.pipe_file(remote._fs._strip_protocol(uri) + "/stray.txt", b"not committed")
    assert listing(remote.fetch(uri, tmp_path / "got")) == {
        "a.txt": b"alpha",
        "sub/b.bin": b"\x00\x01beta",
    }


def test_remote_folder_cannot_be_opened_as_a_file(remote: FsspecArtifactStore, tmp_path) -> None:
    uri = remote.uri_for("r", "t", "o")
    remote.commit(make_folder(tmp_path / "src"), uri)
    with pytest.raises(StoreError, match="folder"):
        remote.open(uri)


def test_s3_artifacts_are_plain_objects_under_their_uri(s3, tmp_path) -> None:
    import boto3

    store = FsspecArtifactStore(s3.root("plain"))
    uri = store.uri_for("run-1", "train", "model")
    store.commit(make_folder(tmp_path / "src"), uri)
    client = boto3.client("s3", endpoint_url=s3.endpoint)
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=s3.bucket)["Contents"])
    assert "plain/run-1/train/model/a.txt" in keys
    assert "plain/run-1/train/model/sub/b.bin" in keys
    assert "plain/run-1/train/.model.pinnace-commit" in keys


def test_unknown_fsspec_scheme_is_a_store_error_with_hint() -> None:
    with pytest.raises(StoreError, match="nosuchfs") as info:
        open_artifact_store("nosuchfs://bucket/x")
    assert "pip install" in (info.value.hint or "")
