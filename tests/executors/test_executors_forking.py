"""Which executions fork, from which server: aliased requirement sets, announcement order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pinnace import compiler, dsl
from pinnace.engine.driver import RunDriver
from pinnace.envs.cache import EnvironmentCache
from pinnace.executors.base import UpcomingTask
from pinnace.executors.forking import TaskForking
from pinnace.executors.forkserver import ServerSpec
from pinnace.executors.local import LocalExecutor
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.stores import open_artifact_store, open_metadata_store


# python-dateutil depends on six: both sets install exactly the same distributions.
@dsl.component(packages_to_install=["python-dateutil==2.9.0.post0"])
def dateutil_only(x: int) -> int:
    import importlib.metadata
    import json
    import sys

    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    print(json.dumps({"python": sys.executable, "prefix": sys.prefix, "dists": dists}))
    return x + 1


@dsl.component(packages_to_install=["python-dateutil==2.9.0.post0", "six==1.17.0"])
def dateutil_and_six(x: int) -> int:
    import importlib.metadata
    import json
    import sys

    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    print(json.dumps({"python": sys.executable, "prefix": sys.prefix, "dists": dists}))
    return x + 1


@dsl.pipeline(name="aliased-sets")
def aliased(x: int = 1):
    dateutil_and_six(x=dateutil_only(x=x).output)


def run_aliased(tmp_path: Path, home: Path, fork_servers: bool) -> dict[str, Any]:
    path = tmp_path / "aliased.yaml"
    compiler.Compiler().compile(aliased, str(path))
    executor = LocalExecutor(
        env_cache=EnvironmentCache(home / "envs"),
        runtime_path=materialize_runtime(home),
        parallelism=2,
        use_current_python=False,
        fork_servers=fork_servers,
        artifacts=open_artifact_store(str(home / "artifacts")),
        work_dir=home / "work",
    )
    driver = RunDriver(
        metadata=open_metadata_store("memory://"),
        artifacts=open_artifact_store(str(home / "artifacts")),
        executor=executor,
        work_dir=home / "work",
        logs_dir=home / "logs",
    )
    try:
        run = driver.create_run(yaml.safe_load(path.read_text()), cache=False)
        final = driver.drive(run.run_id)
        tasks = {t.task_name: t for t in driver.metadata.list_tasks(run.run_id)}
        executions = {
            e.task_name: e.environment for e in driver.metadata.list_executions(run.run_id)
        }
    finally:
        executor.close()
    reports = {}
    for name, task in tasks.items():
        lines = Path(task.log_path).read_text().splitlines()
        reports[name] = json.loads(next(line for line in lines if line.startswith("{")))
    return {"state": final.state.value, "reports": reports, "environments": executions}


@pytest.mark.index
def test_aliased_sets_run_in_one_interpreter_fresh_and_forked(tmp_path):
    home = tmp_path / "home"
    fresh = run_aliased(tmp_path, home, fork_servers=False)  # builds both: the second aliases
    forked = run_aliased(tmp_path, home, fork_servers=True)
    assert fresh["state"] == forked["state"] == "SUCCEEDED"
    # The same interpreter and exactly the same installs for both sets, fresh or forked.
    assert fresh["reports"] == forked["reports"]
    one, two = fresh["reports"]["dateutil-only"], fresh["reports"]["dateutil-and-six"]
    assert one == two and one["python"].startswith(str(home / "envs"))
    assert one["dists"] == ["python-dateutil==2.9.0.post0", "six==1.17.0"]
    first, second = (fresh["environments"][n] for n in ("dateutil-only", "dateutil-and-six"))
    assert second["alias_of"] == Path(first["python"]).parents[1].name != second["key"]
    assert "alias_of" not in first
    # ... and one fork server for both.
    servers = {e["forked"]["server_pid"] for e in forked["environments"].values()}
    assert len(servers) == 1, forked["environments"]


class RecordingPool:
    """A pool twin recording what it is asked for ahead (servers, and whether needed next),
    and which modules it had learned by then."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, bool]] = []
        self.modules: set[str] = set()
        self.known_when_asked: list[set[str]] = []

    def learn(self, environment: str, modules: list[tuple[str, list[str]]]) -> None:
        self.modules.update(m for m, _ in modules)

    def acquire(self, spec: ServerSpec, *, wait: bool = True, soon: bool = False) -> None:
        self.asked.append((spec.env["WHICH"], soon))
        self.known_when_asked.append(set(self.modules))


@dsl.component
def uses_csv(x: int) -> int:
    import csv

    return x + len(csv.__name__)


@dsl.component
def uses_wave(x: int) -> int:
    import wave

    return x + len(wave.__name__)


@dsl.pipeline(name="two-programs")
def two_programs(x: int = 1):
    uses_wave(x=uses_csv(x=x).output)


def recording_forking(tmp_path: Path, pipeline: Any) -> tuple[TaskForking, RecordingPool, list]:
    """A TaskForking on the current interpreter whose pool records, and `pipeline`'s containers."""
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    spec = yaml.safe_load(path.read_text())
    containers = [e["container"] for e in spec["deploymentSpec"]["executors"].values()]
    pool = RecordingPool()
    forking = TaskForking(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        use_current_python=True,
        task_env=lambda cpu, env, gpus, managed: (dict(env), None),
        pool=pool,  # type: ignore[arg-type]
    )
    return forking, pool, containers


def upcoming(name: str, container: dict[str, Any], which: str) -> UpcomingTask:
    return UpcomingTask(
        hint=f"r/{name}",
        run_id="r",
        image=container["image"],
        command=tuple(container["command"]),
        args=tuple(container["args"]),
        env={"WHICH": which},  # the variables are part of a server's key
    )


def test_a_server_asked_for_ahead_knows_what_every_task_told_imports(tmp_path):
    # Both programs run in one environment (the current interpreter): the server the first
    # task needs must start with the second's imports too, or it imports them (while the
    # second task waits) when that one comes.
    forking, pool, (first, second) = recording_forking(tmp_path, two_programs)
    told = [upcoming("t1", first, "a"), upcoming("t2", second, "a")]
    assert forking.prestart(told) == ["r/t1", "r/t2"]
    assert pool.asked == [("a", True)]
    assert {"csv", "wave"} <= pool.known_when_asked[0]


def test_the_first_two_servers_of_an_announcement_are_needed_next(tmp_path):
    forking, pool, (container, _) = recording_forking(tmp_path, aliased)

    def task(name: str, which: str) -> UpcomingTask:
        return upcoming(name, container, which)

    told = [task("t1", "a"), task("t2", "a"), task("t3", "b"), task("t4", "c"), task("t5", "a")]
    assert forking.prestart(told) == [f"r/t{i}" for i in range(1, 6)]
    # One request per server, in order; the first two (the tasks now and next) at once.
    assert pool.asked == [("a", True), ("b", True), ("c", False)]
