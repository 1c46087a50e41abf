"""`pinnace run` killed with SIGKILL at task transitions: its tasks die with it, the next
command settles the run FAILED with the reason, `runs resume` finishes it, nothing ran twice."""

from __future__ import annotations

import signal
import subprocess

import pytest
from fault_support import (
    JOURNALED,
    PINNACE,
    Journal,
    all_gone,
    clean_env,
    kill,
    start_pinnace,
    store_view,
    wait_until,
)


@pytest.mark.parametrize(
    ("event", "task"),
    [("daemon", "first"), ("done", "first"), ("daemon", "second")],
)
def test_a_killed_cli_run_is_settled_then_resumed_without_repeats(tmp_path, event, task):
    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    process = start_pinnace(
        home, "run", str(JOURNALED), "--use-current-python", "-p", f"journal={journal.path}"
    )
    wait_until(lambda: journal.has(event, task), f"{event} {task}")
    kill(process, signal.SIGKILL)
    assert all_gone(journal.pids()), "a task process outlived its `pinnace run`"
    listed = subprocess.run(
        [str(PINNACE), "--home", str(home), "runs", "list"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0
    (run_id,) = store_view(home)
    view = store_view(home)[run_id]
    if view["state"] == "SUCCEEDED":  # killed after the run was recorded finished
        assert journal.audit(view["succeeded"]) == []
        return
    assert view["state"] == "FAILED" and "exited before the run finished" in view["error"]
    assert view["running_executions"] == []
    assert not (home / "work" / run_id).exists()  # the dead driver's half-done work is gone
    resumed = subprocess.run(
        [str(PINNACE), "--home", str(home), "runs", "resume", run_id],
        env=clean_env(PINNACE_USE_CURRENT_PYTHON="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    view = store_view(home)[run_id]
    assert view["state"] == "SUCCEEDED"
    assert journal.audit(view["succeeded"]) == []
