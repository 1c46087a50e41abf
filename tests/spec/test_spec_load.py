"""Tests for load_spec: every kind of document it accepts or refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from spec_kfp2_pipelines import compile_all

from pinnace.errors import PipelineSourceError, SpecError
from pinnace.spec import LoadedSpec, load_spec

FIXTURES = Path(__file__).parent.parent / "fixtures" / "spec"
EXAMPLE = Path(__file__).parents[2] / "examples" / "basic_pipeline.yaml"


@pytest.fixture(scope="module")
def kfp2(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return compile_all(tmp_path_factory.mktemp("kfp2"))


def test_kfp2_pipeline_loads_unchanged_from_path_text_bytes_and_dict(kfp2) -> None:
    text = kfp2["simple"].read_text()
    expected = yaml.safe_load(text)
    for source in (kfp2["simple"], str(kfp2["simple"]), text, text.encode(), expected):
        loaded = load_spec(source)
        assert isinstance(loaded, LoadedSpec)
        assert loaded.source_format == "ir"
        assert loaded.platform_spec is None
        assert loaded.pipeline_spec == expected
    tasks = load_spec(kfp2["simple"]).pipeline_spec["root"]["dag"]["tasks"]
    assert tasks["add"]["taskInfo"]["name"] == "Adder"


def test_dict_source_is_copied_not_aliased(kfp2) -> None:
    original = yaml.safe_load(kfp2["simple"].read_text())
    loaded = load_spec(original)
    loaded.pipeline_spec["root"]["dag"]["tasks"].clear()
    assert original["root"]["dag"]["tasks"]


def test_kfp2_control_flow_and_compiled_component_pass_validation(kfp2) -> None:
    flow = load_spec(kfp2["control_flow"]).pipeline_spec
    for kind in ("comp-condition-", "comp-for-loop-", "comp-exit-handler-", "comp-inner"):
        assert any(name.startswith(kind) for name in flow["components"]), kind
    single = load_spec(kfp2["add_component"]).pipeline_spec
    assert list(single["root"]["dag"]["tasks"]) == ["add"]


def test_json_ir_loads(kfp2, tmp_path: Path) -> None:
    spec = yaml.safe_load(kfp2["simple"].read_text())
    target = tmp_path / "p.json"
    target.write_text(json.dumps(spec))
    assert load_spec(target).pipeline_spec == spec


def test_second_yaml_document_is_the_platform_spec(kfp2) -> None:
    platform = {
        "platforms": {
            "kubernetes": {
                "deploymentSpec": {
                    "executors": {"exec-add": {"nodeSelector": {"labels": {"gpu": "yes"}}}}
                }
            }
        }
    }
    text = kfp2["simple"].read_text() + "---\n" + yaml.safe_dump(platform)
    loaded = load_spec(text)
    assert loaded.platform_spec == platform
    assert loaded.pipeline_spec["pipelineInfo"]["name"] == "simple"
    with pytest.raises(SpecError, match="platform spec"):
        load_spec(text + "---\nfoo: 1\n")
    with pytest.raises(SpecError, match="platform spec"):
        load_spec(kfp2["simple"].read_text() + "---\nfoo: 1\n")


def test_pipeline_job_wrapper_keeps_runtime_config(kfp2) -> None:
    spec = yaml.safe_load(kfp2["simple"].read_text())
    job = {
        "displayName": "j",
        "pipelineSpec": spec,
        "runtimeConfig": {"parameterValues": {"a": 4.0}},
    }
    loaded = load_spec(json.dumps(job))
    assert loaded.source_format == "pipeline_job"
    assert loaded.pipeline_spec == spec
    assert loaded.runtime_config == {"parameterValues": {"a": 4.0}}


def test_kfp1_argo_workflow_is_converted() -> None:
    loaded = load_spec(FIXTURES / "basic_pipeline_book.yaml")
    assert loaded.source_format == "argo"
    assert loaded.pipeline_spec["schemaVersion"] == "2.1.0"
    assert len(loaded.pipeline_spec["root"]["dag"]["tasks"]) == 5
    assert (
        load_spec(EXAMPLE).pipeline_spec["root"]["inputDefinitions"]["parameters"]["dataset_url"][
            "defaultValue"
        ]
        == "https://bit.ly/3POP8CI"
    )


def test_v1_component_yaml_is_refused_as_a_component() -> None:
    text = (FIXTURES / "params_pipeline.yaml").read_text()
    workflow = yaml.safe_load(text)
    echo = next(t for t in workflow["spec"]["templates"] if t["name"] == "echo")
    component = json.loads(echo["metadata"]["annotations"]["pipelines.kubeflow.org/component_spec"])
    with pytest.raises(SpecError, match=r"is a component .*Echo.*not a pipeline"):
        load_spec(yaml.safe_dump(component), path_hint="echo.yaml")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("foo: 1\nbar: 2\n", "not a pipeline spec"),
        ("- 1\n- 2\n", "not a mapping"),
        ("\n---\n", "empty"),
        ("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\n", "CronWorkflow"),
    ],
)
def test_unknown_shapes_say_what_was_expected(text: str, match: str) -> None:
    with pytest.raises(SpecError, match=match) as info:
        load_spec(text, path_hint="x.yaml")
    assert str(info.value).startswith("x.yaml")


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineSourceError, match="cannot read"):
        load_spec(tmp_path / "nope.yaml")


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: costs nothing on disk
    with pytest.raises(SpecError, match="over the limit") as info:
        load_spec(big)
    assert str(big) in str(info.value)


def test_validation_runs_by_default_and_can_be_skipped(kfp2) -> None:
    spec = yaml.safe_load(kfp2["simple"].read_text())
    spec["schemaVersion"] = "9.9.9"
    with pytest.raises(SpecError, match="schemaVersion"):
        load_spec(spec)
    assert load_spec(spec, validate=False).pipeline_spec["schemaVersion"] == "9.9.9"
