"""Caching across runs: reuse, opting out per run and per task, and invalidation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import pinnace
from pinnace import dsl
from pinnace.backend import open_backend
from pinnace.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home")


def run(pipeline, settings: Settings, **kwargs) -> pinnace.RunResult:
    result = pinnace.run(
        pipeline, settings=settings, use_current_python=True, parallelism=2, **kwargs
    )
    assert result.state == "SUCCEEDED", result.error
    return result


@dsl.component
def stamp(text: str, data: dsl.Output[dsl.Dataset]) -> str:
    import uuid

    with open(data.path, "w") as f:
        f.write(text)
    return uuid.uuid4().hex  # differs on every real execution


@dsl.component
def read(data: dsl.Input[dsl.Dataset], suffix: str) -> str:
    import uuid

    with open(data.path) as f:
        return f.read() + suffix + ":" + uuid.uuid4().hex


@dsl.pipeline(name="cached")
def pipeline(text: str = "a", suffix: str = "!"):
    made = stamp(text=text)
    read(data=made.outputs["data"], suffix=suffix)


def states(result: pinnace.RunResult) -> dict[str, str]:
    return {t.name: t.state for t in result.tasks}


def outputs(result: pinnace.RunResult) -> dict[str, dict]:
    return {t.name: t.outputs for t in result.tasks}


def test_second_run_reuses_every_task(settings):
    first = run(pipeline, settings)
    second = run(pipeline, settings)
    assert states(first) == {"stamp": "SUCCEEDED", "read": "SUCCEEDED"}
    assert states(second) == {"stamp": "CACHED", "read": "CACHED"}
    assert all(t.cached for t in second.tasks)
    assert outputs(second) == outputs(first)
    backend = open_backend(settings)
    try:
        assert backend.metadata.list_executions(second.run_id) == []
        record = {t.task_name: t for t in backend.metadata.list_tasks(second.run_id)}
        assert record["stamp"].cached_from == f"{first.run_id}/stamp"
        # the reused artifacts are listed under the new run too
        assert {a.output_name for a in backend.metadata.list_artifacts(second.run_id)} == {"data"}
    finally:
        backend.close()


def test_cache_false_runs_everything_again(settings):
    first = run(pipeline, settings)
    again = run(pipeline, settings, cache=False)
    assert states(again) == {"stamp": "SUCCEEDED", "read": "SUCCEEDED"}
    assert again.task("stamp").outputs["Output"] != first.task("stamp").outputs["Output"]


def test_a_task_with_caching_off_runs_again(settings):
    @dsl.pipeline(name="cached")
    def partly(text: str = "a", suffix: str = "!"):
        made = stamp(text=text)
        read(data=made.outputs["data"], suffix=suffix).set_caching_options(False)

    run(partly, settings)
    second = run(partly, settings)
    assert states(second) == {"stamp": "CACHED", "read": "SUCCEEDED"}


def test_changing_a_parameter_misses_downstream_of_it_only(settings):
    first = run(pipeline, settings)
    second = run(pipeline, settings, arguments={"suffix": "?"})
    assert states(second) == {"stamp": "CACHED", "read": "SUCCEEDED"}
    assert second.task("read").outputs["Output"].startswith("a?:")
    third = run(pipeline, settings, arguments={"text": "b"})
    assert states(third) == {"stamp": "SUCCEEDED", "read": "SUCCEEDED"}
    assert third.task("stamp").outputs["data"] != first.task("stamp").outputs["data"]


def test_a_cache_entry_whose_artifacts_were_deleted_runs_again(settings):
    first = run(pipeline, settings)
    shutil.rmtree(Path(settings.artifact_root) / first.run_id)
    second = run(pipeline, settings)
    assert states(second) == {"stamp": "SUCCEEDED", "read": "SUCCEEDED"}
    backend = open_backend(settings)
    try:
        with backend.artifacts.open(second.task("stamp").outputs["data"]) as f:
            assert f.read() == b"a"
    finally:
        backend.close()
