"""Prestarted (warm) task processes: same behaviour as fresh ones, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from pinnace import compiler, dsl
from pinnace.components import create_component_from_func
from pinnace.engine.driver import RunDriver
from pinnace.envs.cache import EnvironmentCache
from pinnace.executors.base import TaskLaunch, UpcomingTask
from pinnace.executors.local import LocalExecutor
from pinnace.executors.prestart import program_modules
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.stores import open_artifact_store, open_metadata_store


@dsl.component
def report(x: int) -> int:
    import json
    import os
    import sys

    print(json.dumps({"argv0": os.path.basename(sys.argv[0]), "path0": sys.path[0]}))
    print("cwd-is-path0", os.getcwd() == sys.path[0], "env", os.environ.get("GREETING"))
    print("main", __name__, "bytecode-off", os.environ.get("PYTHONDONTWRITEBYTECODE"))
    return x + 1


@dsl.component
def explode(x: int) -> int:
    raise ValueError(f"bad value {x}")


@dsl.pipeline(name="prestart-same")
def chain(x: int = 1):
    a = report(x=x).set_env_variable("GREETING", "hello")
    b = report(x=a.output)
    c = report(x=b.output)
    explode(x=c.output)


def v1_double(n: int) -> int:
    return n * 2


def v1_explode(n: int) -> int:
    import json

    print(json.dumps({"n": n}))
    raise RuntimeError("v1 failure")


@dsl.pipeline(name="prestart-v1")
def v1_chain(n: int = 3):
    # (this file's annotations are strings: a parameter, not an output, feeds the second)
    double = create_component_from_func(v1_double)(n=n)
    create_component_from_func(v1_explode)(n=n).after(double)


def driver(tmp_path: Path, prestart: bool) -> RunDriver:
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=2,
        use_current_python=True,
        prestart=prestart,
    )
    return RunDriver(
        metadata=open_metadata_store("memory://"),
        artifacts=open_artifact_store(str(tmp_path / "artifacts")),
        executor=executor,
        work_dir=tmp_path / "work",
        logs_dir=tmp_path / "logs",
    )


def run_both(tmp_path: Path, pipeline: Any) -> dict[bool, dict[str, Any]]:
    """Run `pipeline` with and without prestart; task states, errors, outputs and logs."""
    spec = compiler.compile_pipeline(pipeline) if hasattr(compiler, "compile_pipeline") else None
    if spec is None:
        path = tmp_path / "p.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        import yaml

        spec = yaml.safe_load(path.read_text())
    results: dict[bool, dict[str, Any]] = {}
    for prestart in (False, True):
        home = tmp_path / ("warm" if prestart else "cold")
        d = driver(home, prestart)
        try:
            run = d.create_run(spec, cache=False)
            final = d.drive(run.run_id)
            tasks = {t.task_name: t for t in d.metadata.list_tasks(run.run_id)}
            executions = d.metadata.list_executions(run.run_id)
        finally:
            d.executor.close()
        logs = {
            name: normalize(Path(t.log_path).read_text(), home, run.run_id)
            for name, t in tasks.items()
            if t.log_path
        }
        results[prestart] = {
            "state": final.state.value,
            "states": {n: t.state.value for n, t in tasks.items()},
            "errors": {n: normalize(t.error or "", home, run.run_id) for n, t in tasks.items()},
            "outputs": normalize(
                json.dumps({n: t.outputs for n, t in tasks.items()}), home, run.run_id
            ),
            "logs": logs,
            "prestarted": sum(bool(e.environment.get("prestarted")) for e in executions),
            "home": home,
        }
    return results


def normalize(text: str, home: Path, run_id: str) -> str:
    return text.replace(str(home), "HOME").replace(run_id, "RUN")


def leftovers(root: Path) -> list[int]:
    """Processes whose working folder is under `root` (idle or running task processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cwd.startswith(str(root)):
            found.append(int(entry.name))
    return found


def test_program_modules_finds_imports_everywhere_but_kfp_and_relative():
    text = (
        "import kfp\nfrom kfp import dsl\nimport os, json as j\n"
        "def f():\n    import pandas as pd\n    from sklearn.linear_model import A, B\n"
        "    from . import sibling\n    from x.y import *\n"
    )
    assert program_modules(text) == [
        ("os", []),
        ("json", []),
        ("pandas", []),
        ("sklearn.linear_model", ["A", "B"]),
        ("x.y", []),
    ]
    assert program_modules("def (:") == []


def test_a_run_behaves_the_same_with_and_without_prestart(tmp_path):
    results = run_both(tmp_path, chain)
    cold, warm = results[False], results[True]
    assert warm["prestarted"] >= 2  # the later tasks of the chain ran in warm processes
    assert cold["prestarted"] == 0
    for key in ("state", "states", "errors", "outputs", "logs"):
        assert cold[key] == warm[key], key
    assert cold["state"] == "FAILED"
    log = warm["logs"]["report"]
    assert '"argv0": "__main__.py"' in log
    assert "cwd-is-path0 True env hello" in log
    assert "main ephemeral_component" in log
    failed = warm["logs"]["explode"]
    assert "Traceback (most recent call last)" in failed
    assert "ValueError: bad value 4" in failed
    assert "warm.py" not in failed
    assert leftovers(tmp_path) == []


def test_a_kfp_v1_program_fails_the_same_way_warm(tmp_path):
    results = run_both(tmp_path, v1_chain)
    cold, warm = results[False], results[True]
    assert warm["prestarted"] == 1
    for key in ("state", "states", "errors", "outputs", "logs"):
        assert cold[key] == warm[key], key
    log = warm["logs"]["v1-explode"]
    assert re.search(r'File ".*ephemeral_component.py", line \d+, in <module>', log), log
    assert "RuntimeError: v1 failure" in log
    assert "warm.py" not in log and "runpy" not in log
    assert leftovers(tmp_path) == []


def sleeper_launch(tmp_path: Path, executor_input: dict[str, Any]) -> tuple[TaskLaunch, Any]:
    """A kfp-v2 style launch of a component that sleeps, and its UpcomingTask."""

    @dsl.component
    def sleepy(seconds: float) -> float:
        import time

        time.sleep(seconds)
        return seconds

    path = tmp_path / "sleepy.yaml"
    compiler.Compiler().compile(sleepy, str(path))
    import yaml

    container = next(
        iter(yaml.safe_load(path.read_text())["deploymentSpec"]["executors"].values())
    )["container"]
    from pinnace.engine.inputs import resolve_placeholders

    workdir = tmp_path / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    launch = TaskLaunch(
        run_id="r",
        task_name="sleepy",
        execution_id="e1",
        image=container["image"],
        command=tuple(resolve_placeholders(container["command"], executor_input)),
        args=tuple(resolve_placeholders(container["args"], executor_input)),
        executor_input=executor_input,
        output_metadata_path=Path(executor_input["outputs"]["outputFile"]),
        workdir=workdir,
        log_path=tmp_path / "sleepy.log",
    )
    upcoming = UpcomingTask(
        hint="r/sleepy",
        run_id="r",
        image=container["image"],
        command=tuple(container["command"]),
        args=tuple(container["args"]),
    )
    return launch, upcoming


def test_cancel_kills_a_warm_task_and_close_kills_idle_warm_processes(tmp_path):
    executor_input = {
        "inputs": {"parameterValues": {"seconds": 30}},
        "outputs": {
            "parameters": {"Output": {"outputFile": str(tmp_path / "work" / "Output")}},
            "outputFile": str(tmp_path / "work" / "executor_output.json"),
        },
    }
    launch, upcoming = sleeper_launch(tmp_path, executor_input)
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=2,
        use_current_python=True,
    )
    try:
        other = UpcomingTask(**{**upcoming.__dict__, "hint": "r/other"})
        assert executor.prestart([upcoming, other]) == ["r/sleepy", "r/other"]
        deadline = time.monotonic() + 20
        while len(leftovers(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(leftovers(tmp_path)) == 2  # two idle warm processes
        future = executor.submit(launch)
        time.sleep(1.0)
        executor.cancel("e1")
        outcome = future.result(timeout=20)
        assert outcome.error == "canceled"
        assert outcome.environment.get("prestarted") is True
    finally:
        executor.close()
    deadline = time.monotonic() + 10
    while leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(tmp_path) == []


def test_prestart_off_accepts_hints_and_starts_nothing(tmp_path):
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=1,
        use_current_python=True,
        prestart=False,
    )
    try:
        hint = UpcomingTask(hint="r/t", run_id="r", image="", command=("echo",), args=())
        assert executor.prestart([hint]) == ["r/t"]
        assert leftovers(tmp_path) == []
    finally:
        executor.close()


def test_an_environment_not_built_yet_is_left_for_later(tmp_path):
    @dsl.component(packages_to_install=["six==1.17.0"])
    def with_six() -> str:
        import six

        return six.__version__

    path = tmp_path / "six.yaml"
    compiler.Compiler().compile(with_six, str(path))
    import yaml

    executors = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
    container = next(iter(executors.values()))["container"]
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=1,
    )
    try:
        hint = UpcomingTask(
            hint="r/t",
            run_id="r",
            image="",
            command=tuple(container["command"]),
            args=tuple(container["args"]),
        )
        assert executor.prestart([hint]) == []  # offered again once the task built it
        assert leftovers(tmp_path) == []
        assert not any((tmp_path / "envs").glob("*/pyvenv.cfg"))  # nothing was built
    finally:
        executor.close()


def test_bytecode_writing_is_on_only_in_environments_pinnace_built(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=1,
        prestart=False,
    )
    try:
        managed, _ = executor._task_env(None, {}, [], True)
        host, _ = executor._task_env(None, {}, [], False)
        own, _ = executor._task_env(None, {"PYTHONDONTWRITEBYTECODE": "1"}, [], True)
    finally:
        executor.close()
    assert "PYTHONDONTWRITEBYTECODE" not in managed
    assert host["PYTHONDONTWRITEBYTECODE"] == "1"  # the user's own interpreter: left alone
    assert own["PYTHONDONTWRITEBYTECODE"] == "1"  # the task asked for it
