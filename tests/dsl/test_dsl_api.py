"""The public shape of `pinnace.dsl`: exports, shared I/O classes, pipeline objects."""

from __future__ import annotations

import pinnace.dsl as dsl
from pinnace import components
from pinnace.compiler import compile_pipeline
from pinnace.runtime import types as runtime_types


def test_exports_are_unique_and_resolvable() -> None:
    assert len(set(dsl.__all__)) == len(dsl.__all__)
    for name in dsl.__all__:
        assert getattr(dsl, name) is not None


def test_io_classes_are_the_runtime_ones() -> None:
    for name in (
        "Artifact",
        "Dataset",
        "Model",
        "Metrics",
        "HTML",
        "Markdown",
        "Input",
        "Output",
        "InputPath",
        "OutputPath",
        "ClassificationMetrics",
        "SlicedClassificationMetrics",
    ):
        assert getattr(dsl, name) is getattr(runtime_types, name)
    assert components.InputPath is dsl.InputPath and components.OutputPath is dsl.OutputPath


@dsl.component(base_image="python:3.11")
def echo(text: str) -> str:
    return text


def test_pipeline_object_exposes_what_a_runner_needs() -> None:
    @dsl.pipeline(name="Runner Facing!", description="d", pipeline_root="/r", display_name="R")
    def my_pipeline(text: str = "x"):
        echo(text=text)

    assert my_pipeline.name == "runner-facing"
    assert my_pipeline.pipeline_func.__name__ == "my_pipeline"
    assert (my_pipeline.description, my_pipeline.pipeline_root, my_pipeline.display_name) == (
        "d",
        "/r",
        "R",
    )
    assert my_pipeline.__name__ == "my_pipeline"
    spec = compile_pipeline(my_pipeline)
    assert spec["defaultPipelineRoot"] == "/r"
    assert spec["pipelineInfo"] == {"name": "runner-facing", "displayName": "R", "description": "d"}


def test_component_keeps_function_and_spec() -> None:
    assert echo.python_func.__name__ == "echo"
    assert echo.component_spec.name == "echo"
    assert list(echo.component_spec.outputs) == ["Output"]


def test_channels_in_strings_become_injected_inputs() -> None:
    @dsl.pipeline(name="fstrings")
    def p(who: str = "you"):
        first = echo(text=who)
        echo(text=f"{who} and {first.output}")

    task = compile_pipeline(p)["root"]["dag"]["tasks"]["echo-2"]
    params = task["inputs"]["parameters"]
    assert params["pipelinechannel--who"] == {"componentInputParameter": "who"}
    assert params["text"]["runtimeValue"]["constant"] == (
        "{{$.inputs.parameters['pipelinechannel--who']}} and "
        "{{$.inputs.parameters['pipelinechannel--echo-Output']}}"
    )
    assert task["dependentTasks"] == ["echo"]


def test_a_task_changes_its_own_copy_of_the_component_container() -> None:
    @dsl.component
    def step(x: int) -> int:
        return x

    @dsl.pipeline(name="containers")
    def pipeline() -> None:
        first = step(x=1).set_env_variable("A", "1").set_cpu_limit("2")
        first.container.command.append("extra")
        first.container.args.append("more")
        second = step(x=2)
        assert second.container == step.component_spec.container
        assert second.container is not step.component_spec.container
        assert second.container.env == {} and second.container.resources is None
        assert "extra" not in second.container.command and "more" not in second.container.args
        assert first.container.resources.cpu_limit == "2"

    spec = compile_pipeline(pipeline)
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-step"]["container"]["env"] == [{"name": "A", "value": "1"}]
    assert "env" not in executors["exec-step-2"]["container"]
    assert step.component_spec.container.env == {}
