"""Planning: binding run parameters, ordering tasks, rejecting specs the engine cannot run."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from engine_helpers import kfp_spec

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.engine.plan import bind_parameters, make_plan
from pinnace.errors import ParameterError, SpecError


@dsl.component
def add(a: int, b: int = 1) -> int:
    return a + b


@dsl.component
def echo(text: str) -> str:
    return text


@dsl.pipeline(name="typed")
def typed_pipeline(
    count: int,
    ratio: float = 0.5,
    flag: bool = False,
    items: list = [1, 2],
    config: dict = {"k": "v"},
    name: str = "x",
):
    add(a=count)


@dsl.pipeline(name="diamond")
def diamond_pipeline(n: int = 1):
    top = add(a=n)
    left = add(a=top.output)
    right = add(a=top.output)
    add(a=left.output, b=right.output)


def bind(arguments: dict[str, Any]) -> dict[str, Any]:
    return make_plan(compile_pipeline(typed_pipeline), arguments).parameters


def test_defaults_are_applied_and_arguments_win():
    params = bind({"count": 3, "name": "given"})
    assert params == {
        "count": 3,
        "ratio": 0.5,
        "flag": False,
        "items": [1, 2],
        "config": {"k": "v"},
        "name": "given",
    }


def test_missing_required_parameter_names_it_and_says_how_to_pass_it():
    with pytest.raises(ParameterError) as info:
        bind({})
    text = str(info.value)
    assert "'count'" in text and "required" in text
    assert "-p count=VALUE" in text and "arguments=" in text


def test_optional_parameter_without_default_is_left_out():
    definitions = {"parameters": {"maybe": {"parameterType": "STRING", "isOptional": True}}}
    assert bind_parameters(definitions, {}) == {}


def test_unknown_parameter_is_rejected_listing_the_real_ones():
    with pytest.raises(ParameterError) as info:
        bind({"count": 1, "cuont": 2})
    assert "'cuont'" in str(info.value)
    assert "count" in str(info.value).split("hint:")[1]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("count", "3", 3),
        ("ratio", "2", 2.0),
        ("ratio", "0.25", 0.25),
        ("flag", "true", True),
        ("flag", "False", False),
        ("items", '[1, "a"]', [1, "a"]),
        ("config", '{"a": 1}', {"a": 1}),
        ("name", "42", "42"),
    ],
)
def test_strings_from_a_command_line_are_parsed(name, text, expected):
    value = bind({"count": 1, name: text})[name]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("count", True),  # bool is an int subclass in Python, not an integer parameter
        ("count", "three"),
        ("count", 2.5),
        ("flag", "yes"),
        ("flag", 1),
        ("items", "not json"),
        ("items", {"a": 1}),
        ("config", "[1]"),
        ("ratio", "fast"),
        ("name", 3),
    ],
)
def test_wrong_types_are_rejected_naming_the_parameter(name, value):
    arguments = {"count": 1, name: value}
    with pytest.raises(ParameterError) as info:
        bind(arguments)
    assert f"'{name}'" in str(info.value)


def test_whole_float_is_accepted_as_integer():
    assert bind({"count": 4.0})["count"] == 4


def test_tasks_are_in_topological_order():
    plan = make_plan(compile_pipeline(diamond_pipeline))
    order = [t.name for t in plan.tasks]
    assert order.index("add") < order.index("add-2") < order.index("add-4")
    assert order.index("add") < order.index("add-3") < order.index("add-4")
    assert plan.task("add-4").upstream == ("add-2", "add-3")


def test_task_order_does_not_depend_on_the_order_of_the_spec_map():
    spec = compile_pipeline(diamond_pipeline)
    reordered = copy.deepcopy(spec)
    tasks = reordered["root"]["dag"]["tasks"]
    reordered["root"]["dag"]["tasks"] = dict(reversed(list(tasks.items())))
    assert list(reordered["root"]["dag"]["tasks"]) != list(spec["root"]["dag"]["tasks"])
    names = [t.name for t in make_plan(spec).tasks]
    assert [t.name for t in make_plan(reordered).tasks] == names
    assert names == ["add", "add-2", "add-3", "add-4"]


def test_cycle_is_a_spec_error_naming_the_cycle():
    spec = copy.deepcopy(compile_pipeline(diamond_pipeline))
    spec["root"]["dag"]["tasks"]["add"]["dependentTasks"] = ["add-4"]
    with pytest.raises(SpecError) as info:
        make_plan(spec)
    text = str(info.value)
    assert "cycle" in text
    for name in ("add ", "add-4"):
        assert name in text + " "


def test_unknown_upstream_task_is_a_spec_error():
    spec = copy.deepcopy(compile_pipeline(diamond_pipeline))
    spec["root"]["dag"]["tasks"]["add"]["dependentTasks"] = ["ghost"]
    with pytest.raises(SpecError, match="ghost"):
        make_plan(spec)


def test_unknown_component_is_a_spec_error_with_its_field():
    spec = copy.deepcopy(compile_pipeline(diamond_pipeline))
    spec["root"]["dag"]["tasks"]["add"]["componentRef"]["name"] = "comp-missing"
    with pytest.raises(SpecError) as info:
        make_plan(spec)
    assert "comp-missing" in str(info.value)
    assert info.value.field == "root.dag.tasks.add.componentRef.name"


def test_unknown_executor_is_a_spec_error_with_its_field():
    spec = copy.deepcopy(compile_pipeline(diamond_pipeline))
    spec["components"]["comp-add"]["executorLabel"] = "exec-missing"
    with pytest.raises(SpecError) as info:
        make_plan(spec)
    assert "exec-missing" in str(info.value)
    assert info.value.field == "deploymentSpec.executors.exec-missing"


# -- specs compiled by the real kfp: DAG components are planned recursively ---------------


def test_kfp_condition_plans_a_dag_task_with_its_condition(tmp_path):
    plan = make_plan(kfp_spec("condition_pipeline", tmp_path))
    group = plan.task("condition-1")
    assert group.kind == "dag" and "heads" in group.condition
    assert [c.name for c in group.children] == ["say"]


def test_kfp_parallel_for_plans_a_loop(tmp_path):
    plan = make_plan(kfp_spec("loop_pipeline", tmp_path))
    (loop,) = plan.tasks
    assert loop.kind == "dag" and loop.iterator["items"]["raw"] == '["a", "b"]'
    assert [c.name for c in loop.children] == ["say"]


def test_kfp_nested_pipeline_plans_its_inner_tasks(tmp_path):
    plan = make_plan(kfp_spec("nested_pipeline", tmp_path))
    (inner,) = plan.tasks
    assert inner.kind == "dag" and inner.condition is None and inner.iterator is None
    assert [c.name for c in inner.children] == ["say"]


def test_a_component_containing_itself_is_a_spec_error(tmp_path):
    spec = kfp_spec("nested_pipeline", tmp_path)
    inner = spec["components"]["comp-inner"]["dag"]["tasks"]
    inner["again"] = {"componentRef": {"name": "comp-inner"}, "taskInfo": {"name": "again"}}
    with pytest.raises(SpecError, match="contains itself"):
        make_plan(spec)


def test_kfp_compiled_plain_pipeline_plans(tmp_path):
    plan = make_plan(kfp_spec("plain_pipeline", tmp_path), {"n": "5"})
    assert plan.parameters == {"n": 5}
    assert [t.name for t in plan.tasks] == ["double", "double-2"]
