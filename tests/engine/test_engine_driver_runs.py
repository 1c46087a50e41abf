"""Driving real runs: data passing, recorded outputs, parallelism, failures, retries, abort."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from engine_helpers import memory_driver

import pinnace
from pinnace import dsl
from pinnace.backend import open_backend
from pinnace.compiler import compile_pipeline
from pinnace.engine.events import EngineEvent
from pinnace.model.state import RunState, TaskState
from pinnace.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home")


def run(pipeline, settings: Settings, **kwargs) -> pinnace.RunResult:
    kwargs.setdefault("use_current_python", True)
    kwargs.setdefault("parallelism", 2)
    return pinnace.run(pipeline, settings=settings, **kwargs)


@dsl.component
def source(n: int, data: dsl.Output[dsl.Dataset]) -> int:
    with open(data.path, "w") as f:
        f.write(str(n * 10))
    data.metadata["rows"] = n
    return n


@dsl.component
def scale(n: int, factor: int, data: dsl.Input[dsl.Dataset]) -> int:
    with open(data.path) as f:
        return n * factor + int(f.read())


@dsl.component
def combine(left: int, right: int, report: dsl.Output[dsl.Markdown]) -> int:
    with open(report.path, "w") as f:
        f.write(f"{left}+{right}")
    return left + right


@dsl.pipeline(name="diamond")
def diamond(n: int = 2) -> int:
    top = source(n=n)
    left = scale(n=top.outputs["Output"], factor=2, data=top.outputs["data"])
    right = scale(n=top.outputs["Output"], factor=3, data=top.outputs["data"])
    return combine(left=left.output, right=right.output).outputs["Output"]


def test_diamond_passes_parameters_and_artifacts_and_records_everything(settings):
    result = run(diamond, settings, arguments={"n": "3"})
    assert result.state == "SUCCEEDED", result.error
    by_name = {t.name: t for t in result.tasks}
    assert by_name["scale"].outputs["Output"] == 3 * 2 + 30
    assert by_name["scale-2"].outputs["Output"] == 3 * 3 + 30
    assert by_name["combine"].outputs["Output"] == 36 + 39
    assert result.outputs == {"Output": 75}  # the pipeline's own output

    backend = open_backend(settings)
    try:
        tasks = backend.metadata.list_tasks(result.run_id)
        assert {t.task_name: t.state for t in tasks} == dict.fromkeys(by_name, TaskState.SUCCEEDED)
        executions = backend.metadata.list_executions(result.run_id)
        assert len(executions) == 4
        assert all(e.state is TaskState.SUCCEEDED and e.exit_code == 0 for e in executions)
        artifacts = {
            (a.task_name, a.output_name): a for a in backend.metadata.list_artifacts(result.run_id)
        }
        assert set(artifacts) == {("source", "data"), ("combine", "report")}
        data = artifacts[("source", "data")]
        assert data.schema_title == "system.Dataset" and data.metadata["rows"] == 3
        report = artifacts[("combine", "report")]
        assert report.schema_title == "system.Markdown"
        with backend.artifacts.open(report.uri) as f:
            assert f.read() == b"36+39"
        assert backend.artifacts.local_path(data.uri).is_relative_to(settings.artifact_root)
        run_record = backend.metadata.get_run(result.run_id)
        assert run_record.state is RunState.SUCCEEDED and run_record.parameters == {"n": 3}
    finally:
        backend.close()


class Pair(NamedTuple):
    total: int
    data: dsl.Dataset


@dsl.pipeline(name="pair")
def artifact_output_pipeline() -> Pair:
    top = source(n=1)
    return Pair(total=top.outputs["Output"], data=top.outputs["data"])


def test_pipeline_outputs_include_artifacts_by_uri(settings):
    result = run(artifact_output_pipeline, settings)
    assert result.state == "SUCCEEDED", result.error
    assert result.outputs["total"] == 1
    uri = result.outputs["data"]
    assert uri == result.task("source").outputs["data"]
    backend = open_backend(settings)
    try:
        with backend.artifacts.open(uri) as f:
            assert f.read() == b"10"
    finally:
        backend.close()


@dsl.component
def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="two-naps")
def two_naps():
    nap(seconds=2.0)
    nap(seconds=2.0)


@dsl.pipeline(name="two-short-naps")
def two_short_naps():
    nap(seconds=0.3)
    nap(seconds=0.3)


def task_events(pipeline, settings: Settings, parallelism: int) -> list[tuple[str, str]]:
    """(state, task) of every task event, in the order the engine reported them."""
    events: list[tuple[str, str]] = []

    def on_event(event: EngineEvent) -> None:
        if event.task_name is not None:
            events.append((event.state, event.task_name))

    result = run(pipeline, settings, parallelism=parallelism, cache=False, on_event=on_event)
    assert result.state == "SUCCEEDED", result.error
    return events


def test_independent_tasks_run_in_parallel(settings):
    # With two slots both naps start before either ends; with one, the second waits.
    states = [state for state, _ in task_events(two_short_naps, settings, parallelism=2)]
    assert states == ["RUNNING", "RUNNING", "SUCCEEDED", "SUCCEEDED"]
    states = [state for state, _ in task_events(two_short_naps, settings, parallelism=1)]
    assert states == ["RUNNING", "SUCCEEDED", "RUNNING", "SUCCEEDED"]


@dsl.component
def explode(n: int) -> float:
    if n > 0:
        raise ValueError(f"bad input {n}")  # the user's line, expected in the log
    return 0.0


@dsl.pipeline(name="failing")
def failing():
    broken = explode(n=42)
    nap(seconds=broken.output)  # downstream of the failure
    nap(seconds=1.0)  # independent, already running when the failure happens


def test_a_failing_component_fails_its_task_and_the_run(settings):
    result = run(failing, settings)
    assert result.state == "FAILED"
    states = {t.name: t.state for t in result.tasks}
    assert states == {"explode": "FAILED", "nap": "SKIPPED", "nap-2": "SUCCEEDED"}
    failed = result.task("explode")
    assert "explode" in result.error
    log = Path(failed.log_path).read_text()
    assert "ValueError: bad input 42" in log
    assert 'raise ValueError(f"bad input {n}")' in log
    assert "Traceback" in log
    assert "explode" in (result.task("nap").error or "")


@dsl.component
def flaky(marker: str) -> str:
    import os

    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    return "ok"


@dsl.component
def always_fails():
    raise RuntimeError("never works")


def test_retry_succeeds_on_the_second_attempt(settings, tmp_path):
    @dsl.pipeline(name="retry")
    def pipeline(marker: str):
        flaky(marker=marker).set_retry(num_retries=2)

    result = run(pipeline, settings, arguments={"marker": str(tmp_path / "marker")})
    assert result.state == "SUCCEEDED", result.error
    assert result.task("flaky").outputs == {"Output": "ok"}
    backend = open_backend(settings)
    try:
        executions = sorted(
            backend.metadata.list_executions(result.run_id), key=lambda e: e.attempt
        )
        assert [(e.attempt, e.state) for e in executions] == [
            (1, TaskState.FAILED),
            (2, TaskState.SUCCEEDED),
        ]
        log = Path(result.task("flaky").log_path).read_text()
        assert "first attempt fails" in log  # the failed attempt's log is kept
    finally:
        backend.close()


def test_retry_gives_up_after_all_attempts(settings):
    @dsl.pipeline(name="hopeless")
    def pipeline():
        always_fails().set_retry(num_retries=2)

    result = run(pipeline, settings)
    assert result.state == "FAILED"
    assert result.task("always-fails").state == "FAILED"
    backend = open_backend(settings)
    try:
        executions = backend.metadata.list_executions(result.run_id)
        assert sorted(e.attempt for e in executions) == [1, 2, 3]
        assert all(e.state is TaskState.FAILED for e in executions)
    finally:
        backend.close()


@dsl.component
def forgetful(data: dsl.Output[dsl.Dataset]):
    print("not writing", data.path)


def test_an_unwritten_output_artifact_is_recorded_but_not_fatal_as_in_kubeflow(settings):
    @dsl.pipeline(name="forgetful")
    def pipeline():
        forgetful()

    result = run(pipeline, settings)
    assert result.state == "SUCCEEDED"
    uri = result.task("forgetful").outputs["data"]
    assert uri and not Path(uri).exists()


def test_driver_with_the_in_memory_store(tmp_path):
    driver = memory_driver(tmp_path)
    try:
        record = driver.create_run(compile_pipeline(diamond), {"n": 1})
        assert driver.metadata.get_run(record.run_id).state is RunState.PENDING
        assert {t.state for t in driver.metadata.list_tasks(record.run_id)} == {TaskState.PENDING}
        final = driver.drive(record.run_id)
    finally:
        driver.executor.close()
    assert final.state is RunState.SUCCEEDED
    assert final.outputs == {"Output": (1 * 2 + 10) + (1 * 3 + 10)}
    assert len(driver.metadata.list_executions(record.run_id)) == 4


def test_interrupting_the_driver_leaves_nothing_running(tmp_path):
    started = []

    def on_event(event: EngineEvent) -> None:
        if event.task_name and event.state == "RUNNING":
            started.append(event.task_name)
            raise KeyboardInterrupt  # Ctrl-C while a task is running

    driver = memory_driver(tmp_path, on_event=on_event)
    try:
        record = driver.create_run(compile_pipeline(two_naps))
        with pytest.raises(KeyboardInterrupt):
            driver.drive(record.run_id)
    finally:
        driver.executor.close()
    # The nap was killed, not waited for: it never wrote its executor output.
    assert not list(driver.work_dir.rglob("executor_output.json"))
    assert len(started) == 1
    run_record = driver.metadata.get_run(record.run_id)
    assert run_record.state is RunState.CANCELED
    assert "canceled" in run_record.error
    tasks = driver.metadata.list_tasks(record.run_id)
    assert {t.state for t in tasks} == {TaskState.CANCELED}
    executions = driver.metadata.list_executions(record.run_id)
    assert executions and all(e.state is not TaskState.RUNNING for e in executions)


@dsl.component
def fail_later(seconds: float):
    import time

    time.sleep(seconds)
    raise RuntimeError("failed later")


def test_a_retry_waiting_out_its_backoff_is_not_lost_when_another_task_fails(settings, tmp_path):
    # flaky fails at once and waits 2 s to retry; meanwhile fail_later fails the run.
    @dsl.pipeline(name="retry-vs-failure")
    def pipeline(marker: str):
        flaky(marker=marker).set_retry(num_retries=1, backoff_duration="2s")
        fail_later(seconds=0.5)

    result = run(pipeline, settings, arguments={"marker": str(tmp_path / "marker")})
    assert result.state == "FAILED"
    assert "fail-later" in result.error
    # the retry still happens (as an Argo retryStrategy would), nothing is left RUNNING
    assert {t.name: t.state for t in result.tasks} == {"flaky": "SUCCEEDED", "fail-later": "FAILED"}


def test_a_due_retry_waiting_for_a_free_slot_does_not_spin(tmp_path):
    # parallelism 1: flaky fails, nap takes the only slot, flaky's retry falls due while
    # nap still runs. The driver must wait for nap, not poll in a busy loop.
    @dsl.pipeline(name="retry-waits-for-slot")
    def pipeline(marker: str):
        flaky(marker=marker).set_retry(num_retries=1, backoff_duration="1s")
        nap(seconds=2.5)

    driver = memory_driver(tmp_path, parallelism=1)
    try:
        record = driver.create_run(compile_pipeline(pipeline), {"marker": str(tmp_path / "marker")})
        advances = []
        advance = driver.scheduler.advance
        driver.scheduler.advance = lambda *a: advances.append(1) or advance(*a)
        final = driver.drive(record.run_id)
    finally:
        driver.executor.close()
    assert final.state is RunState.SUCCEEDED, final.error
    executions = sorted(driver.metadata.list_executions(record.run_id), key=lambda e: e.started_at)
    assert [e.task_name for e in executions] == ["flaky", "nap", "flaky"]
    # One scheduling pass per event (start, each completion, the retry): a busy loop would
    # make thousands while flaky's retry waits for nap's slot.
    assert len(advances) < 10, len(advances)


def test_a_task_its_executor_cannot_start_fails_and_nothing_stays_running(tmp_path):
    from pinnace.errors import StoreError

    driver = memory_driver(tmp_path)
    submit = driver.executor.submit

    def refuse_scale(launch):
        if launch.task_name == "scale":
            raise StoreError("cannot fetch the input artifact")
        return submit(launch)

    driver.executor.submit = refuse_scale
    try:
        record = driver.create_run(compile_pipeline(diamond), {"n": 1})
        final = driver.drive(record.run_id)
    finally:
        driver.executor.close()
    assert final.state is RunState.FAILED
    tasks = {t.task_name: t for t in driver.metadata.list_tasks(record.run_id)}
    assert tasks["scale"].state is TaskState.FAILED
    assert "cannot fetch the input artifact" in tasks["scale"].error
    assert tasks["combine"].state is TaskState.SKIPPED  # never started
    executions = {e.task_name: e for e in driver.metadata.list_executions(record.run_id)}
    assert executions["scale"].state is TaskState.FAILED
    assert "cannot fetch the input artifact" in executions["scale"].error
    assert "combine" not in executions
