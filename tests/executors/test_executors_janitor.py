"""The janitor: deferred clean-up runs in order, off the caller's thread, and is never lost."""

from __future__ import annotations

import threading

from pinnace.executors._janitor import Janitor


def test_jobs_run_in_order_on_another_thread_and_flush_waits_for_them():
    janitor = Janitor()
    release = threading.Event()
    seen: list[tuple[int, str]] = []
    janitor.defer(release.wait)  # holds the queue until the caller moved on
    for index in range(3):
        janitor.defer(lambda i=index: seen.append((i, threading.current_thread().name)))
    assert seen == []  # defer returned before any job ran
    release.set()
    janitor.flush()
    assert [i for i, _ in seen] == [0, 1, 2]
    assert all(name == "pinnace-janitor" for _, name in seen)
    janitor.close()


def test_close_runs_what_is_queued_and_later_jobs_run_at_once():
    janitor = Janitor()
    seen: list[str] = []
    janitor.defer(lambda: seen.append("queued"))
    janitor.close()
    assert seen == ["queued"]
    janitor.defer(lambda: seen.append(threading.current_thread().name))
    assert seen == ["queued", threading.current_thread().name]


def test_a_failing_job_does_not_stop_the_next():
    janitor = Janitor()
    seen: list[int] = []
    janitor.defer(lambda: 1 / 0)
    janitor.defer(lambda: seen.append(1))
    janitor.close()
    assert seen == [1]
