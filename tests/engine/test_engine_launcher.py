"""The task launcher tells the executor what is coming, in the order it will be needed."""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from engine_helpers import memory_driver

from pinnace import compiler, dsl
from pinnace.executors.base import UpcomingTask


@dsl.component
def step(x: int) -> int:
    return x + 1


@dsl.pipeline(name="chain-of-five")
def chain(x: int = 1):
    a = step(x=x).set_display_name("a")
    b = step(x=a.output).set_display_name("b")
    c = step(x=b.output).set_display_name("c")
    d = step(x=c.output).set_display_name("d")
    step(x=d.output).set_display_name("e")


def test_the_started_tasks_come_first_then_every_later_one_in_plan_order(tmp_path):
    path = tmp_path / "chain.yaml"
    compiler.Compiler().compile(chain, str(path))
    driver = memory_driver(tmp_path, parallelism=1)
    told: list[list[str]] = []
    executor = driver.executor
    real = executor.prestart

    def recording(upcoming: Sequence[UpcomingTask]) -> list[str]:
        told.append([u.hint.split("/", 1)[1] for u in upcoming])
        return real(upcoming)

    executor.prestart = recording  # type: ignore[method-assign]
    try:
        run = driver.create_run(yaml.safe_load(path.read_text()), cache=False)
        assert driver.drive(run.run_id).state.value == "SUCCEEDED"
    finally:
        executor.close()
    # The running root first, then its four successors at once (more than the capacity of
    # 1): their servers can start while the first task runs. Each is told once.
    assert told[0] == ["step", "step-2", "step-3", "step-4", "step-5"]
    assert [hint for call in told for hint in call] == told[0]
