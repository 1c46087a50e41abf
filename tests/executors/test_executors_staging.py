"""Staging: a succeeded attempt's folder is moved aside at once and removed off the task's path."""

from __future__ import annotations

import threading
from pathlib import Path

from pinnace.executors._janitor import Janitor
from pinnace.executors.staging import discard_later


def attempt_folder(root: Path) -> Path:
    folder = root / "run" / "task" / "1"
    (folder / "outputs" / "parameters").mkdir(parents=True)
    (folder / "outputs" / "parameters" / "out").write_text("42")
    (folder / "executor_output.json").write_text("{}")
    return folder


def test_a_discarded_folder_leaves_its_path_at_once_and_is_removed_later(tmp_path):
    janitor = Janitor()
    release = threading.Event()
    janitor.defer(release.wait)  # the janitor is busy: the removal itself must wait
    folder = attempt_folder(tmp_path)
    discard_later(folder, janitor.defer)
    assert not folder.exists()  # a later attempt staged at this path starts clean
    folder.mkdir()
    (folder / "new").write_text("the next attempt's")
    release.set()
    janitor.close()
    assert (folder / "new").read_text() == "the next attempt's"  # not removed with the old
    assert [p.name for p in folder.parent.iterdir()] == ["1"]  # the old one is gone


def test_a_folder_that_cannot_be_moved_is_removed_at_once(tmp_path):
    ran: list[object] = []
    discard_later(tmp_path / "missing", ran.append)  # nothing to move: nothing deferred
    assert ran == []
