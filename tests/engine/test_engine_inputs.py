"""Binding inputs, the executor input, placeholder resolution and resources of a launch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_helpers import kfp_spec

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.engine.inputs import (
    BoundInputs,
    TaskOutputs,
    bind_inputs,
    build_executor_input,
    resolve_placeholders,
)
from pinnace.engine.launch import make_launch, parse_memory, parse_resources
from pinnace.engine.plan import make_plan
from pinnace.errors import SpecError


@dsl.component
def make_data(rows: int, data: dsl.Output[dsl.Dataset]) -> str:
    return "made"


@dsl.component
def use_data(data: dsl.Input[dsl.Dataset], label: str, scale: float = 1.5) -> int:
    return 1


@dsl.pipeline(name="chain")
def chain_pipeline(rows: int = 4):
    made = make_data(rows=rows)
    use_data(data=made.outputs["data"], label=made.outputs["Output"])


UPSTREAM = TaskOutputs(
    parameters={"Output": "made"},
    artifacts={
        "data": [
            {
                "name": "data",
                "uri": "file:///store/run/make-data/data",
                "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"},
                "metadata": {"rows": 4},
            }
        ]
    },
)


def output_uri(name: str) -> str:
    return f"s3://bucket/run/task/{name}"


def staged(launch, tmp_path: Path):
    """The launch staged on this machine, against a local artifact store."""
    from pinnace.executors.staging import stage
    from pinnace.stores import open_artifact_store

    store = open_artifact_store(str(tmp_path / "store"))
    work = tmp_path / "w"
    return stage(launch, store, work, log_path=tmp_path / "log", cache=tmp_path / "cache")


def test_inputs_come_from_parameters_upstream_outputs_and_defaults():
    plan = make_plan(compile_pipeline(chain_pipeline), {"rows": 7})
    first = bind_inputs(plan.task("make-data"), plan.parameters, {})
    assert first.parameters == {"rows": 7} and first.artifacts == {}
    second = bind_inputs(plan.task("use-data"), plan.parameters, {"make-data": UPSTREAM})
    assert second.parameters == {"label": "made", "scale": 1.5}
    assert second.artifacts == {"data": UPSTREAM.artifacts["data"]}


def test_missing_upstream_output_is_a_spec_error_naming_it():
    plan = make_plan(compile_pipeline(chain_pipeline))
    no_data = TaskOutputs(parameters={"Output": "made"}, artifacts={})
    with pytest.raises(SpecError, match="produced no artifact 'data'"):
        bind_inputs(plan.task("use-data"), plan.parameters, {"make-data": no_data})
    no_param = TaskOutputs(parameters={}, artifacts=UPSTREAM.artifacts)
    with pytest.raises(SpecError, match="produced no output parameter 'Output'"):
        bind_inputs(plan.task("use-data"), plan.parameters, {"make-data": no_param})


def test_executor_input_has_the_kfp_shape_in_artifact_uris(tmp_path):
    plan = make_plan(compile_pipeline(chain_pipeline))
    task = plan.task("use-data")
    inputs = bind_inputs(task, plan.parameters, {"make-data": UPSTREAM})
    ei = build_executor_input(task, inputs, output_uri)
    assert ei["inputs"]["parameterValues"] == {"label": "made", "scale": 1.5}
    artifact = ei["inputs"]["artifacts"]["data"]["artifacts"][0]
    assert artifact["uri"] == "file:///store/run/make-data/data"  # the store's URI, as it is
    assert artifact["type"]["schemaTitle"] == "system.Dataset"
    assert artifact["metadata"] == {"rows": 4}
    # output files are named relative to the execution's folder, which the executor picks
    assert ei["outputs"]["outputFile"] == "executor_output.json"
    assert ei["outputs"]["parameters"]["Output"]["outputFile"] == "outputs/parameters/Output"

    producer = plan.task("make-data")
    ei2 = build_executor_input(producer, bind_inputs(producer, plan.parameters, {}), output_uri)
    declared = ei2["outputs"]["artifacts"]["data"]["artifacts"][0]
    assert declared["name"] == "data"
    assert declared["type"] == {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}
    assert declared["uri"] == "s3://bucket/run/task/data"
    assert "artifacts" not in ei2["inputs"]
    assert not list(tmp_path.iterdir())  # building it touches no disk


EI = {
    "inputs": {
        "parameterValues": {"text": "hello", "n": 3, "items": [1, "a"], "flag": True},
        "artifacts": {"data": {"artifacts": [{"uri": "/in/data", "metadata": {"k": 1}}]}},
    },
    "outputs": {
        "parameters": {"out": {"outputFile": "/w/out"}},
        "artifacts": {"model": {"artifacts": [{"uri": "/w/model", "metadata": {}}]}},
        "outputFile": "/w/executor_output.json",
    },
}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("{{$.inputs.parameters['text']}}", "hello"),
        ("n={{$.inputs.parameters['n']}}", "n=3"),
        ("{{$.inputs.parameters['items']}}", '[1, "a"]'),
        ("{{$.inputs.parameters['flag']}}", "true"),
        ("{{$.inputs.artifacts['data'].path}}", "/in/data"),
        ("{{$.inputs.artifacts['data'].uri}}", "/in/data"),
        ("{{$.inputs.artifacts['data'].metadata}}", '{"k": 1}'),
        ("{{$.outputs.parameters['out'].output_file}}", "/w/out"),
        ("{{$.outputs.artifacts['model'].path}}", "/w/model"),
        ("{{$.outputs.artifacts['model'].uri}}", "/w/model"),
        ("{{$.outputs.output_file}}", "/w/executor_output.json"),
        ("plain text", "plain text"),
    ],
)
def test_placeholders_resolve(item, expected):
    assert resolve_placeholders([item], EI) == [expected]


def test_executor_input_placeholder_is_the_whole_document():
    (resolved,) = resolve_placeholders(["{{$}}"], EI)
    assert json.loads(resolved) == EI


def test_if_present_and_concat_from_a_kfp_container_component(tmp_path):
    spec = kfp_spec("container_pipeline", tmp_path)
    for arguments, flag in (
        ({"text": "yo"}, ["--no-prefix"]),
        ({"text": "yo", "prefix": "P"}, ["--prefix", "P"]),
    ):
        plan = make_plan(spec, arguments)
        task = plan.task("shout")
        inputs = bind_inputs(task, plan.parameters, {})
        ei = build_executor_input(task, inputs, output_uri)
        launch = make_launch(
            run_id="r",
            task=task,
            execution_id="e",
            executor_input=ei,
            artifact_root="s3://bucket",
            log_path=tmp_path / "log",
        )
        assert launch.args == tuple(task.executor["container"]["args"])  # filled when staged
        local = staged(launch, tmp_path)
        data = str(tmp_path / "w" / "outputs" / "artifacts" / "data")
        assert list(local.args) == ["<yo>", *flag, data, data]
        out = str(tmp_path / "w" / "outputs" / "parameters" / "out")
        assert list(local.command) == ["sh", "-c", SHOUT_SCRIPT, out]
        assert local.image == "alpine:3"


SHOUT_SCRIPT = 'for last; do :; done; printf "%s" "$*" > "$0"; printf data > "$last"'


def test_launch_carries_env_and_resources(tmp_path):
    @dsl.pipeline(name="opts")
    def pipeline():
        task = make_data(rows=1)
        task.set_env_variable("GREETING", "hi")
        task.set_cpu_limit("500m")
        task.set_memory_limit("2Gi")

    plan = make_plan(compile_pipeline(pipeline))
    task = plan.task("make-data")
    ei = build_executor_input(task, BoundInputs({"rows": 1}, {}), output_uri)
    launch = make_launch(
        run_id="r",
        task=task,
        execution_id="e",
        executor_input=ei,
        artifact_root="s3://bucket",
        log_path=tmp_path / "log",
    )
    assert launch.env == {"GREETING": "hi"}
    assert launch.resources.cpu_limit == 0.5
    assert launch.resources.memory_limit_bytes == 2 * 2**30


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512", 512),
        ("1K", 1000),
        ("1Ki", 1024),
        ("1.5G", 1_500_000_000),
        ("2Gi", 2 * 2**30),
        ("3M", 3 * 10**6),
        ("lots", None),
    ],
)
def test_memory_units(text, expected):
    assert parse_memory(text) == expected


def test_resources_new_and_old_fields():
    new = parse_resources(
        {
            "resourceCpuLimit": "2",
            "resourceMemoryLimit": "1Gi",
            "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "1"},
        }
    )
    assert (new.cpu_limit, new.memory_limit_bytes) == (2.0, 2**30)
    assert (new.accelerator_type, new.accelerator_count) == ("nvidia.com/gpu", 1)
    old = parse_resources(
        {"cpuLimit": 0.25, "memoryLimit": 0.5, "accelerator": {"type": "tpu", "count": "2"}}
    )
    assert (old.cpu_limit, old.memory_limit_bytes) == (0.25, 500_000_000)
    assert (old.accelerator_type, old.accelerator_count) == ("tpu", 2)
    empty = parse_resources({})
    assert (empty.cpu_limit, empty.memory_limit_bytes, empty.accelerator_count) == (
        None,
        None,
        None,
    )
