"""Cache keys (what makes two executions interchangeable) and retry backoff arithmetic."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.engine.cache import cache_key
from pinnace.engine.inputs import BoundInputs
from pinnace.engine.plan import PlannedTask, make_plan
from pinnace.engine.retry import backoff_seconds, max_attempts


@dsl.component
def train(data: dsl.Input[dsl.Dataset], epochs: int) -> float:
    return 0.5


@dsl.component
def make(data: dsl.Output[dsl.Dataset]):
    pass


def planned_train() -> PlannedTask:
    @dsl.pipeline(name="train")
    def p():
        made = make()
        train(data=made.outputs["data"], epochs=1)

    return make_plan(compile_pipeline(p)).task("train")


def inputs(epochs: int = 3, uri: str = "file:///a/data") -> BoundInputs:
    return BoundInputs({"epochs": epochs}, {"data": [{"uri": uri, "name": "data"}]})


def with_container(task: PlannedTask, **changes) -> PlannedTask:
    executor = copy.deepcopy(dict(task.executor))
    executor["container"].update(changes)
    return dataclasses.replace(task, executor=executor)


def test_same_inputs_same_key():
    task = planned_train()
    assert cache_key(task, inputs()) == cache_key(planned_train(), inputs())
    assert len(cache_key(task, inputs())) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda t: (t, inputs(epochs=4)),
        lambda t: (t, inputs(uri="file:///b/data")),
        lambda t: (with_container(t, image="python:3.12"), inputs()),
        lambda t: (with_container(t, command=["python", "-c", "print(1)"]), inputs()),
        lambda t: (with_container(t, args=["--other"]), inputs()),
    ],
    ids=["parameter", "upstream-artifact-uri", "image", "command", "args"],
)
def test_any_difference_changes_the_key(change):
    task = planned_train()
    other_task, other_inputs = change(task)
    assert cache_key(other_task, other_inputs) != cache_key(task, inputs())


def test_artifact_metadata_does_not_change_the_key():
    task = planned_train()
    a = BoundInputs({"epochs": 3}, {"data": [{"uri": "u", "metadata": {"x": 1}}]})
    b = BoundInputs({"epochs": 3}, {"data": [{"uri": "u", "metadata": {"x": 2}}]})
    assert cache_key(task, a) == cache_key(task, b)


def test_max_attempts():
    assert max_attempts({}) == 1
    assert max_attempts({"maxRetryCount": 2}) == 3


def test_backoff_doubles_from_the_base_and_is_capped():
    policy = {
        "maxRetryCount": 5,
        "backoffDuration": "2s",
        "backoffFactor": 3,
        "backoffMaxDuration": "10s",
    }
    assert [backoff_seconds(policy, n) for n in (1, 2, 3)] == [2.0, 6.0, 10.0]


def test_backoff_defaults_and_kfp_compiled_policy():
    assert backoff_seconds({}, 1) == 0.0
    assert backoff_seconds({"backoffDuration": "1s"}, 3) == 4.0  # default factor 2

    @dsl.pipeline(name="retry")
    def p():
        make().set_retry(
            num_retries=2, backoff_duration="1s", backoff_factor=2, backoff_max_duration="3s"
        )

    policy = make_plan(compile_pipeline(p)).task("make").retry_policy
    assert max_attempts(policy) == 3
    assert [backoff_seconds(policy, n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]
