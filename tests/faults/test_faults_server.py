"""A server killed (SIGKILL) or stopped (SIGTERM) mid-run: runs resume, nothing runs twice.

Every step journals its starts and completions; the audit proves that no task body ran
twice at once, no task re-ran after it succeeded, no process survived, and every run ended.
"""

from __future__ import annotations

import signal
import subprocess

from fault_support import PINNACE, Journal, Server, all_gone, clean_env, store_view, wait_until

FINAL = {"SUCCEEDED", "FAILED", "CANCELED"}


def final(home, run_ids) -> bool:
    view = store_view(home)
    return all(view[r]["state"] in FINAL for r in run_ids)


def test_repeated_server_kills_at_task_transitions_lose_and_repeat_nothing(tmp_path):
    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    server = Server(home).start()
    runs = [server.submit(journal.path, 1.0)]
    # Kill -9 the server when the first task started, when it is done, mid-second task.
    for event, task in (("daemon", "first"), ("done", "first"), ("daemon", "second")):
        wait_until(lambda e=event, t=task: journal.has(e, t), f"{event} {task}")
        server.stop(signal.SIGKILL)
        server.start()
    wait_until(lambda: final(home, runs), "the run to end", timeout=120)
    view = store_view(home)[runs[0]]
    assert view["state"] == "SUCCEEDED", view["error"]
    assert journal.audit(view["succeeded"]) == []
    server.stop(signal.SIGTERM)


def test_sigterm_stops_gracefully_and_the_next_server_resumes(tmp_path):
    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    server = Server(home, PINNACE_STOP_GRACE_SECONDS="0").start()
    run_id = server.submit(journal.path, 2.0)
    wait_until(lambda: journal.has("daemon", "first"), "the first step")
    # uvicorn shuts down, then re-raises the signal: the exit status says SIGTERM.
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (home / "stderr.txt").read_text()
    assert all_gone(journal.pids()), "a task process survived the server"
    view = store_view(home)[run_id]
    assert view["state"] == "RUNNING" and view["error"] is None  # never "canceled by the user"
    # A CLI command while the server is down settles runs of dead `pinnace run`s only.
    listed = subprocess.run(
        [str(PINNACE), "--home", str(home), "runs", "list"], env=clean_env(), timeout=60
    )
    assert listed.returncode == 0
    assert store_view(home)[run_id]["state"] == "RUNNING"
    server.start()
    wait_until(lambda: final(home, [run_id]), "the resumed run to end", timeout=120)
    view = store_view(home)[run_id]
    assert view["state"] == "SUCCEEDED", view["error"]
    assert journal.audit(view["succeeded"]) == []
    server.stop(signal.SIGTERM)


def test_two_servers_on_one_database_never_drive_the_same_run(tmp_path):
    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    first, second = Server(home).start(), Server(home).start()
    runs = [first.submit(journal.path, 1.5)]
    wait_until(lambda: journal.has("daemon", "first"), "the first step")
    first.stop(signal.SIGKILL)  # the second server adopts the run once its lease lapses
    wait_until(lambda: final(home, runs), "the adopted run to end", timeout=120)
    view = store_view(home)[runs[0]]
    assert view["state"] == "SUCCEEDED", view["error"]
    assert journal.audit(view["succeeded"]) == []
    second.stop(signal.SIGTERM)


def test_a_recurring_run_keeps_max_concurrency_across_repeated_server_kills(tmp_path):
    home, journal = tmp_path / "home", Journal(tmp_path / "journal.txt")
    server = Server(home).start()
    key = server.schedule(journal.path, 0.5)
    for round_ in range(1, 4):  # three kills, each while a run is under way
        wait_until(
            lambda n=round_: sum(e == "start" for e, *_ in journal.read().events) >= 2 * n,
            "runs to start",
        )
        server.stop(signal.SIGKILL)
        server.start()
    wait_until(lambda: journal.has("done", "third"), "a run to finish")
    server.disable(key)
    runs = [r for r, v in store_view(home).items() if v["recurring_run_id"] == key]
    wait_until(lambda: final(home, runs), "every run to end", timeout=120)
    view = store_view(home)
    assert {view[r]["state"] for r in runs} <= FINAL and len(runs) >= 2
    run_of = {e: r for r in runs for e in view[r]["executions"]}
    succeeded = [e for r in runs for e in view[r]["succeeded"]]
    # The steps' locks are shared by every run: one overlap would mean two runs at once.
    assert journal.audit(succeeded, run_of) == []
    server.stop(signal.SIGTERM)
