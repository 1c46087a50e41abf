"""Tests for validate_spec: proto errors and graph checks, each naming its field path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from spec_kfp2_pipelines import compile_all

from pinnace.errors import SpecError
from pinnace.spec import check_spec, validate_platform_spec, validate_spec


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    paths = compile_all(tmp_path_factory.mktemp("kfp2v"))
    return {name: yaml.safe_load(path.read_text()) for name, path in paths.items()}


def test_kfp_compiled_specs_are_valid(specs) -> None:
    for spec in specs.values():
        assert check_spec(spec) == []


def _tasks(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["root"]["dag"]["tasks"]


CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    (
        "missing component",
        lambda s: s["components"].pop("comp-make"),
        "root.dag.tasks.make.componentRef.name",
        "'comp-make' is not in components",
    ),
    (
        "unknown producer",
        lambda s: _tasks(s)["train"]["inputs"]["parameters"]["lr"]["taskOutputParameter"].update(
            producerTask="ghost"
        ),
        "root.dag.tasks.train.inputs.parameters.lr.taskOutputParameter.producerTask",
        "'ghost' is not in the same DAG",
    ),
    (
        "unknown output key",
        lambda s: _tasks(s)["train"]["inputs"]["artifacts"]["data"]["taskOutputArtifact"].update(
            outputArtifactKey="nope"
        ),
        "root.dag.tasks.train.inputs.artifacts.data.taskOutputArtifact.outputArtifactKey",
        "'nope' is not an output artifact of task 'make'",
    ),
    (
        "unknown dependent task",
        lambda s: _tasks(s)["show"]["dependentTasks"].append("ghost"),
        "root.dag.tasks.show.dependentTasks.1",
        "'ghost' is not in the same DAG",
    ),
    (
        "unknown pipeline input",
        lambda s: _tasks(s)["make"]["inputs"]["parameters"]["n"].update(
            componentInputParameter="m"
        ),
        "root.dag.tasks.make.inputs.parameters.n.componentInputParameter",
        "'m' is not an input parameter of the enclosing component",
    ),
    (
        "cycle",
        lambda s: _tasks(s)["add"].update(dependentTasks=["show"]),
        "root.dag.tasks",
        "cycle: add -> show -> train -> add",
    ),
    (
        "missing executor",
        lambda s: s["deploymentSpec"]["executors"].pop("exec-add"),
        "components.comp-add.executorLabel",
        "'exec-add' is not in deploymentSpec.executors",
    ),
    (
        "bad proto field type",
        lambda s: _tasks(s)["add"]["retryPolicy"].update(maxRetryCount="many"),
        "root.dag.tasks.add.retryPolicy.maxRetryCount",
        "invalid literal",
    ),
    (
        "bad enum",
        lambda s: s["components"]["comp-add"]["inputDefinitions"]["parameters"]["a"].update(
            parameterType="FLOATY"
        ),
        "components.comp-add.inputDefinitions.parameters.a.parameterType",
        "FLOATY",
    ),
    (
        "unknown field",
        lambda s: _tasks(s)["add"].update(colour="red"),
        "root.dag.tasks.add.colour",
        "unknown field",
    ),
    (
        "wrong schemaVersion",
        lambda s: s.update(schemaVersion="2.0.0"),
        "schemaVersion",
        "'2.0.0' is not supported",
    ),
    ("missing schemaVersion", lambda s: s.pop("schemaVersion"), "schemaVersion", "missing"),
    ("no root dag", lambda s: s["root"].pop("dag"), "root.dag", "must be a DAG"),
]


@pytest.mark.parametrize(("name", "mutate", "field", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_names_its_field(specs, name, mutate, field, message) -> None:
    spec = copy.deepcopy(specs["simple"])
    mutate(spec)
    with pytest.raises(SpecError) as info:
        validate_spec(spec, path="p.yaml")
    assert info.value.field == field
    assert message in str(info.value)
    assert str(info.value).startswith(f"p.yaml: {field}: ")


def test_all_problems_are_counted_in_one_error(specs) -> None:
    spec = copy.deepcopy(specs["simple"])
    spec["components"].pop("comp-make")
    _tasks(spec)["show"]["dependentTasks"].append("ghost")
    assert len(check_spec(spec)) == 2
    with pytest.raises(SpecError, match=r"\(and 1 more: root.dag.tasks.show.dependentTasks"):
        validate_spec(spec)


def test_nested_dag_problems_use_the_component_path(specs) -> None:
    spec = copy.deepcopy(specs["control_flow"])
    name = next(n for n in spec["components"] if n.startswith("comp-for-loop-"))
    tasks = spec["components"][name]["dag"]["tasks"]
    task = next(iter(tasks))
    tasks[task]["dependentTasks"] = [task]
    with pytest.raises(SpecError, match=f"cycle: {task} -> {task}") as info:
        validate_spec(spec)
    assert info.value.field == f"components.{name}.dag.tasks"


def test_non_mapping_spec_is_a_problem() -> None:
    assert check_spec([1, 2])[0].message.startswith("a pipeline spec must be a mapping")  # type: ignore[arg-type]


def test_platform_spec_is_parsed_with_the_proto() -> None:
    validate_platform_spec({"platforms": {"kubernetes": {"deploymentSpec": {}}}})
    with pytest.raises(SpecError, match="platforms"):
        validate_platform_spec({"platforms": [1]})


def test_validation_is_fast_and_pure(specs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    validate_spec(specs["control_flow"])
    assert list(tmp_path.iterdir()) == []
