"""Tests for the kfp 1.x Argo Workflow importer, on workflows written by the real kfp 1.8.22."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pinnace.errors import SpecError
from pinnace.spec import check_spec, convert_argo_workflow, is_argo_workflow

FIXTURES = Path(__file__).parent.parent / "fixtures" / "spec"
EXAMPLE = Path(__file__).parents[2] / "examples" / "basic_pipeline.yaml"


def _convert(name: str | Path) -> dict[str, Any]:
    path = name if isinstance(name, Path) else FIXTURES / name
    workflow = yaml.safe_load(path.read_text())
    assert is_argo_workflow(workflow)
    spec = convert_argo_workflow(workflow, path=str(path))
    assert check_spec(spec) == []  # our validator, which parses with the proto first
    return spec


def _args(spec: dict[str, Any], executor: str) -> list[str]:
    return spec["deploymentSpec"]["executors"][executor]["container"]["args"]


def test_book_pipeline_tasks_dependencies_and_artifacts() -> None:
    spec = _convert("basic_pipeline_book.yaml")
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == [
        "download-dataset",
        "evaluate-model",
        "perform-sample-prediction",
        "process-data",
        "train-model",
    ]
    assert tasks["perform-sample-prediction"]["dependentTasks"] == [
        "evaluate-model",
        "train-model",
    ]
    assert tasks["evaluate-model"]["inputs"]["artifacts"] == {
        "df_test_data": {
            "taskOutputArtifact": {
                "producerTask": "process-data",
                "outputArtifactKey": "df_test_data",
            }
        },
        "model": {
            "taskOutputArtifact": {"producerTask": "train-model", "outputArtifactKey": "model"}
        },
    }
    assert "inputDefinitions" not in spec["root"]
    assert spec["pipelineInfo"] == {"name": "basic-pipeline", "description": "Basic pipeline"}
    outputs = spec["components"]["comp-process-data"]["outputDefinitions"]["artifacts"]
    assert outputs["df_training_data"]["artifactType"]["schemaTitle"] == "system.Artifact"
    assert _args(spec, "exec-process-data") == [
        "--df-all-data",
        "{{$.inputs.artifacts['df_all_data'].path}}",
        "--df-training-data",
        "{{$.outputs.artifacts['df_training_data'].path}}",
        "--df-test-data",
        "{{$.outputs.artifacts['df_test_data'].path}}",
    ]
    container = spec["deploymentSpec"]["executors"]["exec-train-model"]["container"]
    assert container["image"] == "python:3.7"
    assert "def train_model(df_training_data_path, model_path):" in container["command"][-1]
    assert all(t["cachingOptions"] == {"enableCache": True} for t in tasks.values())


def test_example_pipeline_has_the_dataset_url_parameter() -> None:
    spec = _convert(EXAMPLE)
    assert spec["root"]["inputDefinitions"]["parameters"] == {
        "dataset_url": {
            "parameterType": "STRING",
            "defaultValue": "https://bit.ly/3POP8CI",
            "isOptional": True,
        }
    }
    download = spec["root"]["dag"]["tasks"]["download-dataset"]
    assert download["inputs"]["parameters"] == {
        "dataset_url": {"componentInputParameter": "dataset_url"}
    }
    assert _args(spec, "exec-download-dataset")[:2] == [
        "--dataset-url",
        "{{$.inputs.parameters['dataset_url']}}",
    ]


def test_parameters_between_tasks_display_names_and_caching() -> None:
    spec = _convert("params_pipeline.yaml")
    tasks = spec["root"]["dag"]["tasks"]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["a"] == {
        "parameterType": "NUMBER_DOUBLE",
        "defaultValue": 1.5,
        "isOptional": True,
    }
    assert params["factor"]["defaultValue"] == 3
    assert params["greeting"]["parameterType"] == "STRING"
    assert tasks["add"]["taskInfo"]["name"] == "Add numbers"
    assert tasks["scale"]["cachingOptions"] == {}
    assert tasks["scale"]["inputs"]["parameters"] == {
        "x": {"taskOutputParameter": {"producerTask": "add", "outputParameterKey": "Output"}},
        "factor": {"componentInputParameter": "factor"},
    }
    assert tasks["report"]["inputs"]["parameters"]["value"] == {
        "taskOutputParameter": {"producerTask": "scale", "outputParameterKey": "scaled"}
    }
    assert tasks["echo"]["dependentTasks"] == ["report"]  # .after()
    assert tasks["count-lines"]["dependentTasks"] == ["add", "write-lines"]
    add = spec["components"]["comp-add"]
    assert add["outputDefinitions"] == {
        "parameters": {"Output": {"parameterType": "NUMBER_DOUBLE"}}
    }
    assert _args(spec, "exec-add")[-1] == "{{$.outputs.parameters['Output'].output_file}}"
    assert _args(spec, "exec-scale")[-2:] == [
        "{{$.outputs.parameters['scaled'].output_file}}",
        "{{$.outputs.parameters['label'].output_file}}",
    ]
    # A return value nobody reads as a value stays a file artifact.
    count = spec["components"]["comp-count-lines"]["outputDefinitions"]
    assert list(count) == ["artifacts"]
    echo = spec["deploymentSpec"]["executors"]["exec-echo"]["container"]
    assert echo["command"][-3:] == [
        "{{$.inputs.parameters['message']}}",
        "1",
        "{{$.outputs.artifacts['out'].path}}",
    ]


def test_no_argo_placeholders_or_kfp1_paths_survive() -> None:
    names: list[str | Path] = [
        "basic_pipeline_book.yaml",
        "params_pipeline.yaml",
        "no_params_pipeline.yaml",
        "resources_pipeline.yaml",
        EXAMPLE,
    ]
    for name in names:
        text = json.dumps(_convert(name)["deploymentSpec"])
        assert "{{inputs." not in text and "{{tasks." not in text
        assert "/tmp/outputs/" not in text and "/tmp/inputs/" not in text


def test_constants_retry_env_resources() -> None:
    spec = _convert("no_params_pipeline.yaml")
    assert spec["root"]["dag"]["tasks"]["add-2"]["taskInfo"]["name"] == "Second add"
    assert _args(spec, "exec-add")[:4] == ["--a", "1", "--b", "2"]
    res = _convert("resources_pipeline.yaml")
    task = res["root"]["dag"]["tasks"]["add"]
    assert task["retryPolicy"] == {"maxRetryCount": 2}
    assert task["cachingOptions"] == {}
    assert task["taskInfo"]["name"] == "Add with limits"
    container = res["deploymentSpec"]["executors"]["exec-add"]["container"]
    assert container["env"] == [{"name": "MODE", "value": "fast"}]
    assert container["resources"] == {"resourceCpuLimit": "1", "resourceMemoryLimit": "1G"}


@pytest.mark.parametrize(
    ("fixture", "construct", "field"),
    [
        ("condition_pipeline.yaml", "a condition", "when"),
        ("loop_pipeline.yaml", "a loop", "withItems"),
        ("exit_handler_pipeline.yaml", "an exit handler", "spec.onExit"),
        ("volume_pipeline.yaml", "uses volumes", "spec.templates.add"),
    ],
)
def test_unsupported_constructs_are_named(fixture: str, construct: str, field: str) -> None:
    workflow = yaml.safe_load((FIXTURES / fixture).read_text())
    with pytest.raises(SpecError, match=construct) as info:
        convert_argo_workflow(workflow, path=fixture)
    assert field in (info.value.field or "")
    assert str(info.value).startswith(fixture)


def test_kfp2_accepts_the_converted_spec_as_a_component(tmp_path: Path) -> None:
    """The oracle: kfp 2.x loads our IR and compiles a pipeline that nests it."""
    from kfp import components
    from spec_kfp2_pipelines import compile_nesting

    converted = _convert(EXAMPLE)
    book = components.load_component_from_text(yaml.safe_dump(converted))
    assert set(book.component_spec.inputs) == {"dataset_url"}
    compiled = yaml.safe_load(compile_nesting(book, tmp_path / "outer.yaml").read_text())
    assert "comp-download-dataset" in compiled["components"]
    assert check_spec(compiled) == []


def test_mixed_value_and_file_use_of_one_output_is_refused() -> None:
    workflow = yaml.safe_load((FIXTURES / "params_pipeline.yaml").read_text())
    dag = next(t for t in workflow["spec"]["templates"] if t["name"] == "params-pipeline")
    task = next(t for t in dag["dag"]["tasks"] if t["name"] == "count-lines")
    task["arguments"]["artifacts"][0]["from"] = "{{tasks.add.outputs.artifacts.add-Output}}"
    with pytest.raises(SpecError, match=r"add-Output.*not an output artifact") as info:
        convert_argo_workflow(workflow)
    assert info.value.field == "spec.templates.params-pipeline.dag.tasks.count-lines.arguments"
