"""Runtime placeholders and other run-time values of kfp-compiled pipelines."""

from __future__ import annotations

import re

from engine_helpers import kfp_spec, run_kfp

from pinnace.model.state import RunState, TaskState

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _spec(name, tmp_path):
    return kfp_spec(name, tmp_path, "kfp_placeholders")


def test_runtime_placeholders_reach_the_component_as_the_run_values(tmp_path):
    run, tasks = run_kfp(
        "runtime_values", tmp_path, spec=_spec("runtime_values", tmp_path), display_name="nightly"
    )
    assert run.state is RunState.SUCCEEDED, run.error
    got = tasks["show"].outputs["parameters"]["Output"]
    assert got["job"] == "nightly"
    assert got["job_id"] == run.run_id
    assert got["resource"] == f"runtime-values-{run.run_id[:8]}"
    assert got["task"] == "show"
    assert re.fullmatch(r"[0-9a-f]{32}", got["task_id"])
    assert got["root"] == str((tmp_path / "artifacts").resolve())
    assert RFC3339.match(got["created"]) and got["scheduled"] == got["created"]
    assert got["mixed"] == f"run {run.run_id} of nightly"
    assert not any("{{$" in str(v) for v in got.values())
    assert tasks["show"].state is TaskState.SUCCEEDED


def test_resource_limits_from_pipeline_parameters(tmp_path):
    from pinnace.engine.inputs import resolve_resources
    from pinnace.engine.launch import parse_resources

    spec = _spec("resources_from_parameters", tmp_path)
    resources = spec["deploymentSpec"]["executors"]["exec-add"]["container"]["resources"]
    executor_input = {
        "inputs": {
            "parameterValues": {
                "pipelinechannel--cpu": "500m",
                "pipelinechannel--memory": "2G",
                "pipelinechannel--kind": "NVIDIA_TESLA_T4",
                "pipelinechannel--count": "2",
            }
        }
    }
    parsed = parse_resources(resolve_resources(resources, executor_input))
    assert (parsed.cpu_limit, parsed.memory_limit_bytes) == (0.5, 2 * 10**9)
    assert (parsed.accelerator_type, parsed.accelerator_count) == ("NVIDIA_TESLA_T4", 2)
    # Before binding (prestart), the placeholders are no numbers yet: no crash, no limit.
    assert parse_resources(resources).accelerator_count is None


def test_a_gpu_request_runs_with_a_warning_on_a_machine_without_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("PINNACE_GPUS", "")
    monkeypatch.setattr("pinnace.executors.local.discover_gpus", lambda: [])
    run, tasks = run_kfp(
        "resources_from_parameters", tmp_path, spec=_spec("resources_from_parameters", tmp_path)
    )
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["add"].outputs["parameters"]["Output"] == 3
    log = open(tasks["add"].log_path).read()
    assert "ignoring the request for 1 GPU(s)" in log


def test_artifact_lists_reach_a_placeholder_as_json_and_custom_paths_are_kept(tmp_path):
    run, tasks = run_kfp("artifact_lists", tmp_path, spec=_spec("artifact_lists", tmp_path))
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["total-json"].outputs["parameters"]["result"] == 6


def test_optional_pipeline_input_artifacts_may_be_left_out(tmp_path):
    spec = _spec("optional_input_artifacts", tmp_path)
    run, tasks = run_kfp("optional_input_artifacts", tmp_path, spec=spec)
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["describe"].outputs["parameters"]["Output"] == "none"
    assert tasks["describe-inner/describe"].outputs["parameters"]["Output"] == "none"
    assert tasks["describe-inner-2/describe"].outputs["parameters"]["Output"] == "7"


def test_a_parameter_read_through_an_input_path_gets_a_file(tmp_path):
    from pinnace.engine.inputs import resolve_placeholders

    executor_input = {
        "inputs": {"parameterValues": {"text": "hello", "n": 3}},
        "outputs": {"outputFile": str(tmp_path / "executor_output.json")},
    }
    args = ["{{$.inputs.artifacts['text'].path}}", "{{$.inputs.artifacts['n'].path}}"]
    text_file, n_file = resolve_placeholders(args, executor_input)
    assert open(text_file).read() == "hello" and open(n_file).read() == "3"


def test_a_pipeline_used_as_an_exit_task_runs_its_tasks_after_a_failure(tmp_path):
    spec = _spec("pipeline_as_exit_task", tmp_path)
    run, tasks = run_kfp("pipeline_as_exit_task", tmp_path, spec=spec)
    assert run.state is RunState.FAILED
    assert tasks["notify"].state is TaskState.SUCCEEDED
    assert tasks["notify/state-of"].outputs["parameters"]["Output"] == "FAILED"
    assert tasks["notify/condition-1/echo"].state is TaskState.SUCCEEDED


def test_a_task_whose_only_output_is_metrics_is_served_from_the_cache(tmp_path):
    from engine_helpers import memory_driver

    spec = _spec("metrics_only", tmp_path)
    driver = memory_driver(tmp_path)
    try:
        states = []
        for _ in range(2):
            record = driver.create_run(spec)
            driver.drive(record.run_id)
            (task,) = driver.metadata.list_tasks(record.run_id)
            states.append(task.state)
    finally:
        driver.executor.close()
    assert states == [TaskState.SUCCEEDED, TaskState.CACHED]
    assert task.outputs["artifacts"]["metrics"][0]["metadata"] == {"accuracy": 0.9}


def test_any_value_feeds_a_string_input_as_text_as_kubeflow_does(tmp_path):
    run, tasks = run_kfp("values_as_text", tmp_path, spec=_spec("values_as_text", tmp_path))
    assert run.state is RunState.SUCCEEDED, run.error
    got = sorted(t.outputs["parameters"]["Output"] for p, t in tasks.items() if "/echo" in p)
    assert got == ["3", "4", '[1,"a"]', "[2.5,true]"]


def test_a_custom_path_outside_the_task_folder_is_copied_by_the_step(tmp_path):
    spec = _spec("custom_path_outside", tmp_path)
    run, tasks = run_kfp("custom_path_outside", tmp_path, spec=spec)
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["read-text"].outputs["parameters"]["Output"] == "moved"
