"""`pinnace gc` and start-up cleaning: leftovers of killed processes and deleted runs."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from click.testing import CliRunner

from pinnace.backend import open_backend
from pinnace.cli.main import cli
from pinnace.envs.cache import EnvironmentCache
from pinnace.settings import Settings


def leftovers(home: Path) -> dict[str, Path]:
    paths = {
        "work": home / "work" / "gone-run" / "step" / "1" / "outputs" / "model",
        "inputs": home / "work" / "inputs" / "0123" / "data.csv",
        "building": home / "envs" / ".building" / "abcdef-x1y2" / "v" / "lib.so",
        "deleted": home / "artifacts" / "deleted-run" / "train" / "model",
        "partial": home / "artifacts" / "kept-run" / "train" / ".model.pinnace-tmp-1a2b",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    return paths


def gc(home: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--home", str(home), "gc", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_gc_lists_by_default_and_deletes_when_asked(tmp_path):
    home = tmp_path / "home"
    open_backend(Settings.load(env={}, home=home)).close()
    paths = leftovers(home)
    listed = gc(home)
    found = {Path(i["path"]) for i in listed["items"]}
    assert listed["deleted"] is False
    assert home / "work" / "gone-run" in found and home / "work" / "inputs" in found
    assert paths["building"].parents[1] in found and paths["partial"] in found
    assert paths["deleted"].parents[1] not in found  # only with --artifacts
    assert all(p.exists() for p in paths.values())  # a dry run touches nothing
    deleted = gc(home, "--delete", "--artifacts")
    assert deleted["bytes"] >= 5000
    assert not any(p.exists() for p in paths.values())
    assert gc(home, "--artifacts")["items"] == []


def test_a_build_in_progress_is_not_stale(tmp_path):
    cache = EnvironmentCache(tmp_path / "envs")
    folder = tmp_path / "envs" / ".building" / "abcdef-x1y2"
    folder.mkdir(parents=True)
    (tmp_path / "envs" / ".locks").mkdir()
    with open(tmp_path / "envs" / ".locks" / "abcdef.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process is building it
        assert cache.stale_builds() == []
    assert cache.stale_builds() == [folder]
    assert cache.remove_stale_builds() == 1 and not folder.exists()


def test_a_home_that_is_a_file_is_bad_input_not_a_bug(tmp_path):
    home = tmp_path / "home"
    home.write_text("not a folder")
    result = CliRunner().invoke(cli, ["runs", "list"], env={"PINNACE_HOME": str(home)})
    assert result.exit_code == 2, result.output
    assert "is not a folder" in result.output and "bug" not in result.output


def test_a_settled_runs_half_done_writes_are_cleaned(tmp_path):
    from pinnace.housekeeping import clean_after

    settings = Settings.load(env={}, home=tmp_path / "home")
    work = settings.work_dir / "run-1" / "train" / "1" / "outputs" / "model"
    kept = Path(settings.artifact_root) / "run-1" / "prepare" / "data"
    partial = Path(settings.artifact_root) / "run-1" / "train" / ".model.pinnace-tmp-abc"
    for path in (work, kept, partial):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
    assert clean_after(settings, ["run-1"]) == 200
    assert not (settings.work_dir / "run-1").exists() and not partial.exists()
    assert kept.exists()  # a finished task's committed output stays for the resume
