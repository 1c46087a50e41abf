"""Signals to `pinnace run`: SIGTERM and SIGHUP act as Ctrl-C; a second one kills at once."""

from __future__ import annotations

import signal

import pytest
from fault_support import JOURNALED, Journal, all_gone, kill, start_pinnace, store_view, wait_until


def run_journaled(tmp_path, seconds: float = 300, *extra: str):
    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    process = start_pinnace(
        home,
        "run",
        str(JOURNALED),
        "--use-current-python",
        "-p",
        f"journal={journal.path}",
        "-p",
        f"seconds={seconds}",
        *extra,
    )
    wait_until(lambda: journal.has("daemon", "first"), "the first step to start")
    return home, journal, process


@pytest.mark.parametrize(
    ("signum", "code", "reason"),
    [
        (signal.SIGTERM, 143, "canceled by SIGTERM to the pinnace process"),
        (signal.SIGHUP, 129, "canceled by SIGHUP to the pinnace process"),
        (signal.SIGINT, 130, "canceled by the user"),
    ],
)
def test_a_signal_cancels_the_run_and_kills_every_task_tree(tmp_path, signum, code, reason):
    home, journal, process = run_journaled(tmp_path)
    assert kill(process, signum) == code
    (run,) = store_view(home).values()
    assert run["state"] == "CANCELED" and run["error"] == reason
    assert run["tasks"] == {"step": "CANCELED", "step-2": "CANCELED", "step-3": "CANCELED"}
    assert run["running_executions"] == []
    assert all_gone(journal.pids()), "a task process or its detached child survived"
    assert journal.audit(run["succeeded"]) == []


def test_a_second_ctrl_c_kills_at_once_and_the_record_stays_true(tmp_path):
    # The step ignores SIGTERM: after the first Ctrl-C it would get a grace period.
    home, journal, process = run_journaled(tmp_path, 300, "-p", "stubborn=true")
    (pid,) = [p for e, t, _, p in journal.read().events if e == "start"]
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    (run,) = store_view(home).values()
    assert run["state"] == "CANCELED"
    assert set(run["tasks"].values()) == {"CANCELED"}
    assert run["running_executions"] == []
    assert all_gone(journal.pids() | {pid})


def test_runs_cancel_from_another_terminal_stops_a_cli_run(tmp_path):
    import subprocess

    from fault_support import PINNACE, clean_env

    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    env = clean_env(PINNACE_LEASE_SECONDS="2")
    process = start_pinnace(
        home,
        "run",
        str(JOURNALED),
        "--use-current-python",
        "-p",
        f"journal={journal.path}",
        "-p",
        "seconds=300",
        env=env,
    )
    wait_until(lambda: journal.has("daemon", "first"), "the first step to start")
    (run_id,) = store_view(home)
    canceled = subprocess.run(
        [str(PINNACE), "--home", str(home), "runs", "cancel", run_id, "--wait", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert canceled.returncode == 0, canceled.stderr
    assert canceled.stdout.strip().endswith("CANCELED")
    assert process.wait(timeout=60) == 130
    run = store_view(home)[run_id]
    assert run["state"] == "CANCELED" and run["running_executions"] == []
    assert all_gone(journal.pids())
