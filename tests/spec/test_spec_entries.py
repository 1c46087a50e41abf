"""A spec's entries one by one: templates without names, and validation entry by entry
that agrees with the parse of the whole spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.protobuf import json_format

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.spec import check_spec, entries
from pinnace.spec import validate as spec_validate
from pinnace.spec.protos import pipeline_spec_pb2


@dsl.component
def add(x: int) -> int:
    return x + 1


@dsl.pipeline(name="chain-of-ten")
def chain(x: int = 0) -> None:
    task = add(x=x)
    for _ in range(9):
        task = add(x=task.output)


def test_a_task_template_has_no_names_and_fill_puts_them_back() -> None:
    spec = compile_pipeline(chain)
    task = spec["root"]["dag"]["tasks"]["add-3"]
    before = copy.deepcopy(task)
    template, holes = entries.template(task, entries.name_paths("task", task))
    assert task == before  # nothing shared was changed
    assert template["taskInfo"]["name"] == template["componentRef"]["name"] == entries.NAME
    assert template["dependentTasks"] == [entries.NAME]
    producer = template["inputs"]["parameters"]["x"]["taskOutputParameter"]["producerTask"]
    assert producer == entries.NAME
    other = spec["root"]["dag"]["tasks"]["add-4"]
    assert template == entries.template(other, entries.name_paths("task", other))[0]
    filled = copy.deepcopy(template)
    for path, name in holes:
        entries.fill(filled, path, name)
    assert filled == task
    with pytest.raises(ValueError, match=r"taskInfo\.name"):
        entries.fill(copy.deepcopy(task), ("taskInfo", "name"), "add-3")


def whole_parses(spec: dict[str, Any]) -> bool:
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2().PipelineSpec())
    except json_format.ParseError:
        return False
    return True


def broken_task(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["add-4"]["taskInfo"]["nme"] = "x"


def broken_executor(spec: dict[str, Any]) -> None:
    spec["deploymentSpec"]["executors"]["exec-add-2"]["container"]["args"] = {1, 2}


def broken_component(spec: dict[str, Any]) -> None:
    spec["components"]["comp-add-5"]["inputDefinitions"]["parameters"]["x"]["parameterType"] = (
        "NOPE"
    )


@pytest.mark.parametrize("change", [None, broken_task, broken_executor, broken_component])
def test_validation_entry_by_entry_agrees_with_the_whole_parse(change: Any) -> None:
    spec = compile_pipeline(chain)
    if change is not None:
        change(spec)
    assert spec_validate._parses_by_entry(spec) is whole_parses(spec) is (change is None)
    problems = check_spec(spec)
    assert (problems == []) is (change is None)
