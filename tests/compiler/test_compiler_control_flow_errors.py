"""Compile errors of control flow and composition: where kfp raises, and where kfp is
silent but the pipeline cannot run. Each names the pipeline and says what to do."""

from __future__ import annotations

import pytest

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.errors import CompileError


@dsl.component(base_image="python:3.11")
def num(n: int) -> int:
    return n


@dsl.component(base_image="python:3.11")
def text(s: str) -> str:
    return s


@dsl.component(base_image="python:3.11")
def total(ns: list) -> int:
    return sum(ns)


@dsl.component(base_image="python:3.11")
def notify(status: dsl.PipelineTaskFinalStatus):
    print(status)


def _error(pipeline_func) -> CompileError:
    with pytest.raises(CompileError) as info:
        compile_pipeline(pipeline_func)
    assert info.value.pipeline == pipeline_func.name, "the error names the pipeline"
    assert info.value.hint, "the error says what to do"
    return info.value


def test_a_cycle_through_after_is_refused() -> None:
    # kfp 2.17.3 writes this DAG without complaint; no backend can run it.
    @dsl.pipeline(name="cycle")
    def p():
        a = num(n=1)
        b = num(n=2)
        a.after(b)
        b.after(a)

    assert "cycle" in str(_error(p))


def test_a_type_mismatch_between_output_and_input() -> None:
    @dsl.pipeline(name="mismatch")
    def p():
        num(n=text(s="x").output)

    assert "incompatible" in str(_error(p))


def test_a_missing_required_input() -> None:
    @dsl.pipeline(name="missing")
    def p():
        num()

    assert "missing 1 required" in str(_error(p))


def test_a_loop_item_used_outside_its_loop() -> None:
    # kfp 2.17.3 fails here on a bare AssertionError.
    @dsl.pipeline(name="item-outside")
    def p():
        with dsl.ParallelFor([1, 2]) as x:
            num(n=x)
        num(n=x)

    assert "outside its dsl.ParallelFor" in str(_error(p))


def test_a_task_in_a_condition_used_outside_it() -> None:
    @dsl.pipeline(name="leak")
    def p(n: int = 1):
        with dsl.If(n > 1):
            inner = num(n=n)
        num(n=inner.output)

    error = _error(p)
    assert "dsl.If context" in str(error) and "OneOf" in error.hint


def test_a_loop_output_used_after_the_loop_without_collected() -> None:
    @dsl.pipeline(name="no-collected")
    def p():
        with dsl.ParallelFor([1, 2]) as x:
            inner = num(n=x)
        num(n=inner.output)

    assert "dsl.Collected" in str(_error(p))


def test_collected_outside_a_loop() -> None:
    @dsl.pipeline(name="collected-outside")
    def p():
        total(ns=dsl.Collected(num(n=1).output))

    assert "dsl.Collected can only be used" in str(_error(p))


def test_oneof_without_else() -> None:
    @dsl.pipeline(name="oneof-no-else")
    def p(n: int = 1):
        with dsl.If(n > 1):
            a = num(n=1)
        with dsl.Elif(n > 0):
            b = num(n=2)
        num(n=dsl.OneOf(a.output, b.output))

    assert "dsl.Else" in str(_error(p))


def test_else_without_if() -> None:
    @dsl.pipeline(name="else-alone")
    def p():
        num(n=1)
        with dsl.Else():
            num(n=2)

    assert "dsl.If or dsl.Elif" in str(_error(p))


def test_constant_condition() -> None:
    @dsl.pipeline(name="constant-condition")
    def p():
        with dsl.If(1 == 1):
            num(n=1)

    assert "constant" in str(_error(p))


def test_condition_on_a_list() -> None:
    @dsl.pipeline(name="list-condition")
    def p(items: list = [1]):
        with dsl.If(items == [1]):
            num(n=1)

    assert "primitive" in str(_error(p))


def test_loop_over_a_single_parameter() -> None:
    @dsl.pipeline(name="loop-int")
    def p(n: int = 1):
        with dsl.ParallelFor(n) as x:
            num(n=x)

    assert "single parameter" in str(_error(p))


def test_negative_parallelism_and_empty_items() -> None:
    @dsl.pipeline(name="bad-loop")
    def p():
        with dsl.ParallelFor([1], parallelism=-1) as x:
            num(n=x)

    assert "parallelism" in str(_error(p))

    @dsl.pipeline(name="empty-loop")
    def q():
        with dsl.ParallelFor([]) as x:
            num(n=x)

    assert "empty" in str(_error(q))


def test_exit_task_with_an_upstream_and_exit_handler_inside_a_condition() -> None:
    @dsl.pipeline(name="exit-upstream")
    def p():
        first = num(n=1)
        with dsl.ExitHandler(num(n=first.output)):
            num(n=2)

    assert "exit_task cannot depend" in str(_error(p))

    @dsl.pipeline(name="exit-in-condition")
    def q(n: int = 1):
        with dsl.If(n > 0), dsl.ExitHandler(notify()):
            num(n=2)

    assert "outermost scope" in str(_error(q))


def test_final_status_outside_an_exit_handler() -> None:
    @dsl.pipeline(name="status-misuse")
    def p():
        notify()

    assert "PipelineTaskFinalStatus" in str(_error(p))


def test_ignore_upstream_failure_needs_defaults() -> None:
    @dsl.pipeline(name="ignore-no-default")
    def p():
        num(n=num(n=1).output).ignore_upstream_failure()

    assert "no default value" in str(_error(p))


def test_returning_an_output_from_inside_a_condition() -> None:
    @dsl.pipeline(name="return-inside")
    def p(n: int = 1) -> int:
        with dsl.If(n > 1):
            inner = num(n=n)
        return inner.output

    assert "top level" in str(_error(p))


def test_pipeline_output_of_the_wrong_type() -> None:
    @dsl.pipeline(name="wrong-return")
    def p() -> int:
        return text(s="x").output

    assert "cannot be surfaced" in str(_error(p))
