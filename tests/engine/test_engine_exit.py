"""Exit handlers, ignore_upstream_failure and importers, compiled by the real kfp."""

from __future__ import annotations

import json

from engine_helpers import run_kfp

from pinnace.model.state import RunState, TaskState


def statuses(out):
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_exit_task_runs_after_a_failure_with_the_real_state_and_error(tmp_path):
    out = tmp_path / "status.jsonl"
    run, tasks = run_kfp("exit_handler_pipeline", tmp_path, {"out": str(out), "message": "kaput"})
    assert run.state is RunState.FAILED
    assert "exit-handler-1/fail" in run.error and "kaput" in run.error
    assert tasks["exit-handler-1/echo"].state is TaskState.SUCCEEDED
    assert tasks["exit-handler-1/fail"].state is TaskState.FAILED
    assert tasks["exit-handler-1/echo-2"].state is TaskState.SKIPPED
    assert tasks["exit-handler-1"].state is TaskState.FAILED
    assert tasks["report-status"].state is TaskState.SUCCEEDED
    (status,) = statuses(out)
    assert status["state"] == "FAILED"
    assert status["task"] == "exit-handler-1"
    assert status["job"] == "exit-handler"
    assert status["code"] == 2
    assert "'exit-handler-1/fail' failed" in status["message"]


def test_exit_tasks_of_successful_groups_get_succeeded(tmp_path):
    out = tmp_path / "status.jsonl"
    run, tasks = run_kfp("exit_ok_pipeline", tmp_path, {"out": str(out)})
    assert run.state is RunState.SUCCEEDED, run.error
    assert sorted(s["task"] for s in statuses(out)) == ["exit-handler-1", "exit-handler-2"]
    assert tasks["exit-handler-1"].display_name == "first-exit"
    assert all(s["state"] == "COMPLETE" and s["code"] is None for s in statuses(out))


def test_ignore_upstream_failure_runs_with_the_default_and_the_run_still_fails(tmp_path):
    run, tasks = run_kfp("ignore_failure_pipeline", tmp_path)
    assert run.state is RunState.FAILED
    assert "'fail-text' failed" in run.error
    assert tasks["fail-text"].state is TaskState.FAILED
    assert tasks["cleanup"].state is TaskState.SUCCEEDED
    assert tasks["cleanup"].outputs["parameters"] == {"Output": "cleaned default"}


def test_importer_reads_a_local_file_without_copying_it_into_the_store(tmp_path):
    source = tmp_path / "external.txt"
    source.write_text("imported!")
    run, tasks = run_kfp("importer_pipeline", tmp_path, {"uri": str(source)})
    assert run.state is RunState.SUCCEEDED, run.error
    assert run.outputs == {"Output": "imported!"}
    (artifact,) = tasks["importer"].outputs["artifacts"]["artifact"]
    assert artifact["uri"] == str(source)
    assert artifact["metadata"] == {"source": "test"}
    assert artifact["type"]["schemaTitle"] == "system.Dataset"


def test_importer_accepts_file_uris(tmp_path):
    source = tmp_path / "external.txt"
    source.write_text("via file://")
    run, _ = run_kfp("importer_pipeline", tmp_path, {"uri": f"file://{source}"})
    assert run.state is RunState.SUCCEEDED, run.error
    assert run.outputs == {"Output": "via file://"}


def test_importer_of_a_missing_file_fails_clearly(tmp_path):
    run, tasks = run_kfp("importer_pipeline", tmp_path, {"uri": str(tmp_path / "nope.txt")})
    assert run.state is RunState.FAILED
    assert tasks["importer"].state is TaskState.FAILED
    assert "does not exist" in tasks["importer"].error
    assert tasks["read-data"].state is TaskState.SKIPPED


def test_importer_of_an_unknown_scheme_names_the_missing_filesystem(tmp_path):
    run, tasks = run_kfp("importer_constant_pipeline", tmp_path)
    assert run.state is RunState.FAILED
    error = tasks["importer"].error
    assert "gcs-nope" in error and "no filesystem" in error and "install" in error


def test_importer_fetches_other_schemes_with_fsspec(tmp_path):
    import fsspec

    with fsspec.open("memory://pinnace-test/data.txt", "w") as f:
        f.write("from memory")
    run, _ = run_kfp("importer_pipeline", tmp_path, {"uri": "memory://pinnace-test/data.txt"})
    assert run.state is RunState.SUCCEEDED, run.error
    assert run.outputs == {"Output": "from memory"}
