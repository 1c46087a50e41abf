"""Control flow as a Kubeflow cluster runs it: conditions, OneOf, loops, nested pipelines.

Every pipeline is written with the real kfp and compiled by it (tests/fixtures/engine/kfp_flow.py).
"""

from __future__ import annotations

import pytest
from engine_helpers import kfp_spec, run_kfp

from pinnace.model.state import RunState, TaskState

S, SKIP = TaskState.SUCCEEDED, TaskState.SKIPPED


def states(tasks):
    return {name: t.state for name, t in tasks.items()}


def output(tasks, path, name="Output"):
    return tasks[path].outputs["parameters"][name]


@pytest.mark.parametrize(
    ("n", "taken", "text"),
    [(3, "condition-2", "big"), (2, "condition-3", "two"), (1, "condition-4", "small")],
)
def test_if_elif_else_runs_one_branch_and_oneof_picks_it(tmp_path, n, taken, text):
    run, tasks = run_kfp("branches_pipeline", tmp_path, {"n": n})
    assert run.state is RunState.SUCCEEDED, run.error
    branches = {f"condition-branches-1/condition-{i}" for i in (2, 3, 4)}
    for path in branches:
        assert tasks[path].state is (S if path.endswith(taken) else SKIP)
        if not path.endswith(taken):
            assert "is false" in tasks[path].error
    # the tasks inside a skipped branch are recorded SKIPPED too
    skipped_leaves = [p for p in tasks if p.count("/") == 2 and taken not in p]
    assert len(skipped_leaves) == 2 and all(tasks[p].state is SKIP for p in skipped_leaves)
    assert tasks["condition-branches-1"].state is S
    assert output(tasks, "echo-4") == text
    assert run.outputs == {"Output": text}


def test_a_condition_that_cannot_be_evaluated_fails_its_task_naming_the_expression(tmp_path):
    spec = kfp_spec("branches_pipeline", tmp_path, "kfp_flow")
    group = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]["condition-2"]
    group["triggerPolicy"]["condition"] = "inputs.parameter_values['nope'] > 2"
    run, tasks = run_kfp("branches_pipeline", tmp_path, spec=spec)
    assert run.state is RunState.FAILED
    failed = tasks["condition-branches-1/condition-2"]
    assert failed.state is TaskState.FAILED
    assert "condition-branches-1/condition-2" in failed.error and "nope" in failed.error
    assert tasks["condition-branches-1"].state is TaskState.FAILED
    assert tasks["echo-4"].state is SKIP


def test_loop_over_a_pipeline_parameter_collects_outputs_in_order(tmp_path):
    run, tasks = run_kfp("loops_pipeline", tmp_path, {"values": [3, 1, 2]})
    assert run.state is RunState.SUCCEEDED, run.error
    assert [output(tasks, f"for-loop-1[{i}]/square") for i in range(3)] == [9, 1, 4]
    assert tasks["for-loop-1"].outputs["parameters"] == {
        "pipelinechannel--square-Output": [9, 1, 4]
    }
    assert tasks["for-loop-1[1]"].state is S and tasks["for-loop-1[1]"].display_name == (
        "for-loop-1[1]"
    )
    assert run.outputs == {"Output": 14}


def test_loop_over_an_empty_list_succeeds_with_an_empty_collection(tmp_path):
    run, _ = run_kfp("loops_pipeline", tmp_path, {"values": []})
    assert run.state is RunState.SUCCEEDED, run.error
    assert run.outputs == {"Output": 0}


def test_loop_over_raw_dicts_reads_item_fields_with_the_cel_selector(tmp_path):
    run, tasks = run_kfp("raw_dicts_pipeline", tmp_path)
    assert run.state is RunState.SUCCEEDED, run.error
    assert output(tasks, "for-loop-2[0]/echo") == "x"
    assert run.outputs == {"Output": "x,y"}


def test_nested_loops_with_conditions_inside_over_a_task_output(tmp_path):
    run, tasks = run_kfp("nested_loops_pipeline", tmp_path, {"n": 3})
    assert run.state is RunState.SUCCEEDED, run.error
    for i in range(3):
        for j, value in enumerate((10, 20)):
            inner = f"for-loop-1[{i}]/for-loop-3[{j}]"
            # an f-string of two loop items, filled in by the engine as KFP's backend does
            assert output(tasks, f"{inner}/echo") == f"{i}-{value}"
            assert tasks[f"{inner}/condition-4"].state is (S if i > 0 else SKIP)
        assert tasks[f"for-loop-1[{i}]/condition-5"].state is (S if i == 1 else SKIP)
    assert output(tasks, "for-loop-1[2]/for-loop-3[1]/condition-4/square") == 4
    assert output(tasks, "for-loop-1[1]/condition-5/echo-2") == "one"


def test_loop_collects_artifacts_into_a_list_input(tmp_path):
    run, tasks = run_kfp("collect_artifacts_pipeline", tmp_path)
    assert run.state is RunState.SUCCEEDED, run.error
    assert run.outputs == {"Output": "p+q+r"}
    uris = [
        a["uri"]
        for a in tasks["for-loop-2"].outputs["artifacts"]["pipelinechannel--make-data-data"]
    ]
    assert len(set(uris)) == 3 and "for-loop-2[1]" in uris[1]


def test_parallelism_limit_caps_concurrent_iterations(tmp_path):
    log = tmp_path / "stamps.log"
    run, _ = run_kfp("limited_pipeline", tmp_path, {"log": str(log), "seconds": 0.8}, parallelism=4)
    assert run.state is RunState.SUCCEEDED, run.error
    events = sorted(
        (float(t), kind) for kind, _, t in (line.split() for line in log.read_text().splitlines())
    )
    running = peak = 0
    for _, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2  # four iterations, four executor slots, limit 2


def test_nested_pipelines_pass_parameters_and_artifacts_out(tmp_path):
    run, tasks = run_kfp("outer_pipeline", tmp_path, {"n": 3})
    assert run.state is RunState.SUCCEEDED, run.error
    assert output(tasks, "inner") == 9 and output(tasks, "inner/square") == 9
    assert tasks["inner"].inputs["parameters"] == {"n": 3}
    assert output(tasks, "read-data") == "nested"
    assert run.outputs == {"Output": 81}
    assert (
        tasks["inner-data"]
        .outputs["artifacts"]["Output"][0]["uri"]
        .endswith("inner-data/make-data/data")
    )


def test_resuming_a_failed_nested_run_reuses_finished_tasks(tmp_path):
    from engine_helpers import memory_driver

    control = tmp_path / "control"
    control.write_text("2")
    spec = kfp_spec("resumable_loop_pipeline", tmp_path, "kfp_flow")
    driver = memory_driver(tmp_path, parallelism=1)
    try:
        record = driver.create_run(spec, {"control": str(control)}, cache=False)
        failed = driver.drive(record.run_id)
        before = {t.task_name: t.state for t in driver.metadata.list_tasks(record.run_id)}
        control.write_text("none")
        resumed = driver.drive(record.run_id)
        tasks = {t.task_name: t for t in driver.metadata.list_tasks(record.run_id)}
        executions = [e.task_name for e in driver.metadata.list_executions(record.run_id)]
    finally:
        driver.executor.close()
    leaf = "for-loop-2[{}]/condition-3/check-file"
    assert failed.state is RunState.FAILED
    assert before[leaf.format(0)] is S
    assert before[leaf.format(1)] is TaskState.FAILED
    assert before["for-loop-2[1]/condition-3"] is TaskState.FAILED
    assert before["for-loop-2"] is TaskState.FAILED
    assert before[leaf.format(2)] in (SKIP, TaskState.CANCELED, S)
    assert resumed.state is RunState.SUCCEEDED, resumed.error
    assert resumed.outputs == {"Output": [1, 2, 3]}
    assert executions.count(leaf.format(0)) == 1  # reused, not executed again
    assert executions.count(leaf.format(1)) == 2
    assert all(t.state.terminal for t in tasks.values())
