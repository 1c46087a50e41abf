"""The server's run manager: terminate during a retry backoff, a graceful stop is no cancel."""

from __future__ import annotations

import time

from pinnace import dsl
from pinnace.backend import open_backend
from pinnace.compiler import compile_pipeline
from pinnace.engine.lease import SERVER, lease_live, request_cancel
from pinnace.engine.settle import orphaned
from pinnace.model.state import RunState, TaskState
from pinnace.server.run_manager import RunManager
from pinnace.settings import Settings


@dsl.component
def always_fails():
    raise RuntimeError("no luck")


@dsl.component
def sleeps(seconds: float):
    import time

    time.sleep(seconds)


@dsl.pipeline(name="backoff")
def backoff():
    always_fails().set_retry(num_retries=3, backoff_duration="600s")


@dsl.pipeline(name="long")
def long_run():
    sleeps(seconds=600.0)


def until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def manager_for(tmp_path):
    settings = Settings.load(
        env={}, home=tmp_path / "home", use_current_python=True, lease_seconds=1
    )
    backend = open_backend(settings)
    return backend, RunManager(backend)


def test_terminate_takes_effect_during_a_retry_backoff(tmp_path):
    backend, manager = manager_for(tmp_path)
    try:
        run = manager.create_run(compile_pipeline(backoff), {})
        manager.start(run.run_id)
        until(
            lambda: any(
                e.state is TaskState.FAILED for e in backend.metadata.list_executions(run.run_id)
            )
        )
        assert manager.terminate(run.run_id)
        manager.wait(run.run_id, 30)  # the backoff is 600 s: only a prompt stop ends it
        assert not manager.is_active(run.run_id)
        assert backend.metadata.get_run(run.run_id).state is RunState.CANCELED
    finally:
        manager.close()
        backend.close()


def test_a_graceful_stop_leaves_the_run_to_the_next_server(tmp_path):
    backend, manager = manager_for(tmp_path)
    try:
        run = manager.create_run(compile_pipeline(long_run), {})
        manager.start(run.run_id)
        until(lambda: backend.metadata.list_executions(run.run_id) != [])
        manager.close(grace=0)
        stopped = backend.metadata.get_run(run.run_id)
        assert stopped.state is RunState.RUNNING and stopped.error is None
        assert stopped.lease_kind == SERVER and not lease_live(stopped) and orphaned(stopped)
    finally:
        backend.close()


def test_a_run_driven_elsewhere_is_canceled_through_the_store(tmp_path):
    backend, manager = manager_for(tmp_path)
    other = open_backend(backend.settings)  # another process's view of the same database
    try:
        run = manager.create_run(compile_pipeline(long_run), {})
        manager.start(run.run_id)
        until(lambda: backend.metadata.list_executions(run.run_id) != [])
        assert request_cancel(other.metadata, run.run_id)
        manager.wait(run.run_id, 30)  # the driver's heartbeat sees CANCELING, kills the task
        assert not manager.is_active(run.run_id)
        ended = other.metadata.get_run(run.run_id)
        assert ended.state is RunState.CANCELED, ended.error
        assert not request_cancel(other.metadata, run.run_id)  # only RUNNING runs
    finally:
        manager.close()
        other.close()
        backend.close()
