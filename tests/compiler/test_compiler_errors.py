"""Compile errors: clear CompileErrors naming the pipeline/task, and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinnace import dsl
from pinnace.compiler import Compiler, compile_pipeline
from pinnace.errors import CompileError


@dsl.component(base_image="python:3.11")
def make(n: int) -> int:
    return n


@dsl.component(base_image="python:3.11")
def take_model(model: dsl.Input[dsl.Model]) -> str:
    return model.uri


@dsl.component(base_image="python:3.11")
def make_data(data: dsl.Output[dsl.Dataset]):
    pass


def test_unknown_output_names_task_and_available_outputs() -> None:
    @dsl.pipeline(name="bad-output")
    def p():
        make(n=make(n=1).outputs["nope"])

    with pytest.raises(CompileError) as info:
        compile_pipeline(p)
    assert info.value.pipeline == "bad-output" and info.value.task == "make"
    assert "nope" in str(info.value) and "Output" in str(info.value.hint)


def test_missing_required_input() -> None:
    @dsl.pipeline(name="missing")
    def p():
        make()

    with pytest.raises(CompileError, match=r"missing 1 required argument\(s\): n"):
        compile_pipeline(p)


def test_unknown_argument() -> None:
    @dsl.pipeline(name="unknown")
    def p():
        make(n=1, m=2)

    with pytest.raises(CompileError, match="unexpected keyword argument 'm'") as info:
        compile_pipeline(p)
    assert info.value.pipeline == "unknown"


def test_positional_arguments_refused_for_v2_components() -> None:
    @dsl.pipeline(name="positional")
    def p():
        make(1)

    with pytest.raises(CompileError, match="positional"):
        compile_pipeline(p)


@pytest.mark.parametrize("argument", ["text", "param", "dataset"])
def test_type_mismatch(argument: str) -> None:
    @dsl.pipeline(name="types")
    def p(text: str = "x"):
        data = make_data()
        if argument == "text":
            make(n="three")
        elif argument == "param":
            make(n=text)
        else:
            take_model(model=data.outputs["data"])

    with pytest.raises(CompileError, match="incompatible"):
        compile_pipeline(p)


def test_generic_artifact_accepts_any_artifact() -> None:
    @dsl.component(base_image="python:3.11")
    def take_any(a: dsl.Input[dsl.Artifact]):
        pass

    @dsl.pipeline(name="generic")
    def p():
        take_any(a=make_data().outputs["data"])

    assert "take-any" in compile_pipeline(p)["root"]["dag"]["tasks"]


def test_non_pipeline_function() -> None:
    def plain():
        pass

    with pytest.raises(CompileError, match="not a pipeline"):
        compile_pipeline(plain)


def test_pipeline_function_that_raises_points_at_the_line() -> None:
    @dsl.pipeline(name="raises")
    def p(n: int = 1):
        make(n=n)
        raise RuntimeError("boom")

    with pytest.raises(CompileError, match="RuntimeError: boom") as info:
        compile_pipeline(p)
    assert __file__ in str(info.value) and info.value.pipeline == "raises"


def test_empty_pipeline_and_bad_name() -> None:
    @dsl.pipeline(name="empty")
    def empty():
        pass

    with pytest.raises(CompileError, match="no tasks"):
        compile_pipeline(empty)

    @dsl.pipeline(name="---")
    def bad():
        make(n=1)

    with pytest.raises(CompileError, match="invalid pipeline name"):
        compile_pipeline(bad)


def test_unknown_pipeline_parameter() -> None:
    @dsl.pipeline(name="params")
    def p(n: int = 1):
        make(n=n)

    with pytest.raises(CompileError, match="does not match any pipeline input"):
        compile_pipeline(p, pipeline_parameters={"m": 2})


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.set_cpu_limit("two"),
        lambda t: t.set_memory_limit("1GB"),
        lambda t: t.set_accelerator_limit(-1),
        lambda t: t.set_accelerator_limit("x"),
        lambda t: t.set_retry(1, backoff_duration="soon"),
    ],
)
def test_bad_task_options_fail_like_kfp(call) -> None:
    @dsl.pipeline(name="options")
    def p():
        call(make(n=1))

    with pytest.raises(CompileError):
        compile_pipeline(p)


def test_calling_a_component_outside_a_pipeline_needs_local_init() -> None:
    # As kfp: a call outside a pipeline runs it locally once `local.init()` was called.
    with pytest.raises(RuntimeError, match=r"Please run 'kfp.local.init\(\)'"):
        make(n=1)


def test_compile_writes_atomically_and_keeps_old_file_on_error(tmp_path: Path) -> None:
    @dsl.pipeline(name="good")
    def good(n: int = 1):
        make(n=n)

    @dsl.pipeline(name="bad")
    def bad():
        raise ValueError("no")

    target = tmp_path / "p.yaml"
    Compiler().compile(good, str(target))
    before = target.read_text()
    assert before.startswith("# PIPELINE DEFINITION\n# Name: good\n")
    with pytest.raises(CompileError):
        Compiler().compile(bad, str(target))
    assert target.read_text() == before
    assert os.listdir(tmp_path) == ["p.yaml"]  # no temporary file left behind


def test_compile_rejects_unknown_extension_and_missing_folder(tmp_path: Path) -> None:
    @dsl.pipeline(name="good")
    def good():
        make(n=1)

    with pytest.raises(CompileError, match="should end with"):
        Compiler().compile(good, str(tmp_path / "p.txt"))
    with pytest.raises(CompileError, match="cannot write"):
        Compiler().compile(good, str(tmp_path / "missing" / "p.yaml"))
