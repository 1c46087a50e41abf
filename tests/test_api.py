"""Tests for pinnace.api: the first tasks' fork servers start before the database opens."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pinnace import dsl
from pinnace.api import prestart_first_tasks, run
from pinnace.backend import open_backend
from pinnace.compiler import compile_pipeline
from pinnace.executors.base import UpcomingTask
from pinnace.settings import Settings


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="two-roots")
def two_roots(x: int = 1):
    first = add(a=x, b=1)
    add(a=first.output, b=2)
    add(a=x, b=3)


class RecordingPrestarter:
    """An executor twin that only records what it is told is coming."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.told: list[UpcomingTask] = []

    def prestart(self, upcoming: Sequence[UpcomingTask]) -> list[str]:
        self.told.extend(upcoming)
        return [u.hint for u in upcoming]

    def discard_prestarted(self, run_id: str) -> None:
        """Nothing to drop."""


def test_tasks_without_upstream_are_announced_first_then_the_rest_in_plan_order():
    told = RecordingPrestarter(capacity=1)
    prestart_first_tasks(told, compile_pipeline(two_roots), {"x": 5})  # type: ignore[arg-type]
    assert [u.hint for u in told.told] == ["/add", "/add-3", "/add-2"]
    assert all(u.command and u.args for u in told.told)


@dsl.pipeline(name="gated")
def gated(x: int = 1):
    first = add(a=x, b=1)
    with dsl.If(first.output > 1):
        add(a=x, b=2)
    add(a=x, b=3)


def test_tasks_behind_a_group_are_not_announced_and_at_most_sixteen_are():
    told = RecordingPrestarter(capacity=2)
    prestart_first_tasks(told, compile_pipeline(gated), None)  # type: ignore[arg-type]
    assert [u.hint for u in told.told] == ["/add", "/add-3"]  # not add-2, in the If group
    chain = RecordingPrestarter(capacity=2)
    prestart_first_tasks(chain, compile_pipeline(wide_chain), None)  # type: ignore[arg-type]
    assert [u.hint for u in chain.told] == ["/add", *(f"/add-{i}" for i in range(2, 17))]


@dsl.pipeline(name="wide-chain")
def wide_chain(x: int = 1):
    task = add(a=x, b=1)
    for _ in range(30):
        task = add(a=task.output, b=1)


def test_a_spec_the_engine_will_refuse_announces_nothing():
    spec = compile_pipeline(two_roots)
    told = RecordingPrestarter(capacity=4)
    prestart_first_tasks(told, spec, {"no_such_parameter": 1})  # type: ignore[arg-type]
    assert told.told == []


def test_fork_servers_start_before_the_database_opens(tmp_path):
    settings = Settings.load(env={}, home=tmp_path / "home", use_current_python=True)
    database = settings.home / "pinnace.db"
    assert settings.database_url == f"sqlite:///{database}"
    backend = open_backend(settings, lazy=True)
    executor = backend.executor(parallelism=2)
    try:
        prestart_first_tasks(executor, compile_pipeline(two_roots), None)
        deadline = time.monotonic() + 60
        while not executor.fork_servers() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        assert executor.fork_servers()  # type: ignore[attr-defined]
        assert not database.exists()
        assert backend.metadata.list_runs() is not None
        assert database.exists()
    finally:
        executor.close()
        backend.close()


def test_a_run_with_servers_started_early_gives_the_same_outputs(tmp_path):
    outputs = {}
    for fork_servers in (True, False):
        home = tmp_path / f"home-{fork_servers}"
        settings = Settings.load(
            env={}, home=home, use_current_python=True, fork_servers=fork_servers
        )
        result = run(two_roots, {"x": 2}, cache=False, settings=settings)
        assert result.succeeded, result.error
        outputs[fork_servers] = {t.name: t.outputs for t in result.tasks}
    assert outputs[True] == outputs[False] == {
        "add": {"Output": 3},
        "add-2": {"Output": 5},
        "add-3": {"Output": 5},
    }
