"""Durable runs: a driver killed mid-run is settled on the next open, then resumed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import FIXTURES, memory_driver

from pinnace import dsl
from pinnace.backend import open_backend
from pinnace.compiler import compile_pipeline
from pinnace.model.state import RunState, TaskState
from pinnace.settings import Settings
from pinnace.stores import open_metadata_store

PINNACE = Path(sys.executable).parent / "pinnace"


def task_processes_under(home: Path) -> list[int]:
    """Pids of task processes started for `home` (their working folder is inside it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")).is_relative_to(home):
                pids.append(int(entry.name))
    return pids


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "home"
    yield home
    # The killed driver's task processes live in their own sessions: end them here.
    for pid in task_processes_under(home):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.skipif(not PINNACE.exists(), reason="the pinnace command is not installed")
def test_killed_run_is_settled_then_resumed_without_redoing_finished_tasks(home, tmp_path):
    settings = Settings.load(env={}, home=home)
    open_backend(settings).close()  # create the database before two processes share it
    control = tmp_path / "control"
    control.write_text("30")
    log = (tmp_path / "driver.out").open("wb")
    driver = subprocess.Popen(
        [
            str(PINNACE),
            "--home",
            str(home),
            "run",
            str(FIXTURES / "durable_pipeline.py"),
            "-p",
            f"control={control}",
            "--use-current-python",
            "--parallelism",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PINNACE_HOME": str(home)},
    )
    store = open_metadata_store(settings.database_url)
    try:

        def quick_done_slow_running():
            runs = store.list_runs()
            if not runs:
                return None
            tasks = {t.task_name: t.state for t in store.list_tasks(runs[0].run_id)}
            ok = (
                tasks.get("quick") is TaskState.SUCCEEDED and tasks.get("slow") is TaskState.RUNNING
            )
            return runs[0].run_id if ok else None

        run_id = wait_for(quick_done_slow_running, 30, "quick to succeed while slow runs")
        driver.kill()
        driver.wait(timeout=10)
    finally:
        store.close()
        if driver.poll() is None:
            driver.kill()
        log.close()

    backend = open_backend(settings)  # settles the run of the dead driver
    try:
        run = backend.metadata.get_run(run_id)
        assert run.state is RunState.FAILED
        assert "exited before the run finished" in run.error
        assert f"pinnace runs resume {run_id}" in run.error
        tasks = {t.task_name: t for t in backend.metadata.list_tasks(run_id)}
        assert tasks["quick"].state is TaskState.SUCCEEDED
        assert tasks["slow"].state is TaskState.FAILED
        assert "interrupted" in tasks["slow"].error
        executions = backend.metadata.list_executions(run_id)
        assert all(e.state is not TaskState.RUNNING for e in executions)

        # Kill the orphaned sleeper, make the slow task fast, then resume.
        for pid in task_processes_under(home):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        control.write_text("0.1")
        executor = backend.local_executor(parallelism=2, use_current_python=True)
        try:
            final = backend.driver(executor).drive(run_id)
        finally:
            executor.close()
        assert final.state is RunState.SUCCEEDED, final.error
        tasks = {t.task_name: t for t in backend.metadata.list_tasks(run_id)}
        assert tasks["slow"].outputs["parameters"] == {"Output": "slept 0.1"}
        executions = backend.metadata.list_executions(run_id)
        assert sum(e.task_name == "quick" for e in executions) == 1  # not re-executed
        assert sum(e.task_name == "slow" for e in executions) == 2
    finally:
        backend.close()


@dsl.component
def ready() -> str:
    return "ready"


@dsl.component
def check(control: str, before: str) -> str:
    with open(control) as f:
        text = f.read()
    if text != "good":
        raise ValueError(f"control file says {text!r}")
    return text


@dsl.component
def report(verdict: str) -> str:
    return "report: " + verdict


@dsl.pipeline(name="resumable")
def resumable(control: str):
    first = ready()
    verdict = check(control=control, before=first.output)
    report(verdict=verdict.output)


def test_resuming_a_failed_run_reruns_only_the_failed_and_skipped_tasks(tmp_path):
    control = tmp_path / "control"
    control.write_text("bad")
    driver = memory_driver(tmp_path)
    try:
        record = driver.create_run(compile_pipeline(resumable), {"control": str(control)})
        failed = driver.drive(record.run_id)
        states = {t.task_name: t.state for t in driver.metadata.list_tasks(record.run_id)}
        control.write_text("good")
        resumed = driver.drive(record.run_id)
    finally:
        driver.executor.close()
    assert failed.state is RunState.FAILED
    assert states == {
        "ready": TaskState.SUCCEEDED,
        "check": TaskState.FAILED,
        "report": TaskState.SKIPPED,
    }
    assert resumed.state is RunState.SUCCEEDED, resumed.error
    tasks = {t.task_name: t for t in driver.metadata.list_tasks(record.run_id)}
    assert tasks["report"].outputs["parameters"] == {"Output": "report: good"}
    assert tasks["report"].error is None
    executions = driver.metadata.list_executions(record.run_id)
    assert [e.task_name for e in executions].count("ready") == 1
    assert [e.task_name for e in executions].count("check") == 2


class _WatchingExecutor:
    """The local executor, recording at each submit what another connection to the
    database sees: what the store holds if the driver is killed right then."""

    def __init__(self, inner, database_url: str) -> None:
        self._inner = inner
        self._store = open_metadata_store(database_url)
        self.seen: list[tuple[str, dict[str, TaskState], TaskState | None]] = []

    def submit(self, launch):
        tasks = {t.task_name: t.state for t in self._store.list_tasks(launch.run_id)}
        executions = {e.execution_id: e for e in self._store.list_executions(launch.run_id)}
        execution = executions.get(launch.execution_id)
        self.seen.append((launch.task_name, tasks, execution.state if execution else None))
        return self._inner.submit(launch)

    def close(self) -> None:
        self._inner.close()
        self._store.close()

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


@dsl.component
def add_one(x: int) -> int:
    return x + 1


@dsl.pipeline(name="chain-of-three")
def chain_of_three(x: int = 0):
    add_one(x=add_one(x=add_one(x=x).output).output)


def test_a_task_starts_only_once_its_execution_and_its_upstream_outcome_are_committed(
    tmp_path,
):
    settings = Settings.load(env={}, home=tmp_path / "home")
    backend = open_backend(settings)
    executor = _WatchingExecutor(
        backend.local_executor(parallelism=2, use_current_python=True), settings.database_url
    )
    try:
        driver = backend.driver(executor)
        run = driver.create_run(compile_pipeline(chain_of_three), cache=False)
        final = driver.drive(run.run_id)
    finally:
        executor.close()
        backend.close()
    assert final.state is RunState.SUCCEEDED, final.error
    names = ["add-one", "add-one-2", "add-one-3"]
    assert [task for task, _, _ in executor.seen] == names
    for i, (task, tasks, execution) in enumerate(executor.seen):
        assert execution is TaskState.RUNNING  # durably started before its process
        assert tasks[task] is TaskState.RUNNING
        assert all(tasks[upstream] is TaskState.SUCCEEDED for upstream in names[:i])


@dsl.component
def _first() -> int:
    return 1


@dsl.component
def _second(x: int) -> int:
    return x + 1


@dsl.pipeline(name="first-then-second")
def _pair():
    _second(x=_first().output)


def test_a_round_whose_commit_fails_ends_the_run_failed_with_its_own_error(tmp_path):
    """The round that records the first execution cannot commit (a locked database, a full
    disk): that execution never existed, so cancelling it must not fail the whole abort and
    leave the run RUNNING behind a 'not found' error."""
    from pinnace.engine.driver import RunDriver
    from pinnace.engine.events import ignore_events
    from pinnace.errors import StoreError

    helper = memory_driver(tmp_path)
    store = open_metadata_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    driver = RunDriver(
        metadata=store,
        artifacts=helper.artifacts,
        executor=helper.executor,
        work_dir=tmp_path / "work",
        logs_dir=tmp_path / "logs",
        on_event=ignore_events,
    )
    commit, failed = store._commit, []

    def commit_failing_once(writes):
        if not failed and any(action == "add execution" for action, _ in writes):
            failed.append(True)
            raise StoreError("database is locked")
        return commit(writes)

    store._commit = commit_failing_once
    try:
        record = driver.create_run(compile_pipeline(_pair), {})
        with pytest.raises(StoreError, match="database is locked"):
            driver.drive(record.run_id)
    finally:
        driver.executor.close()
    assert failed
    run = store.get_run(record.run_id)
    assert run.state is RunState.FAILED
    assert "database is locked" in (run.error or "")
    tasks = {t.task_name: t.state for t in store.list_tasks(record.run_id)}
    assert set(tasks.values()) == {TaskState.CANCELED}, tasks
