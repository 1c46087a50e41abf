"""LocalExecutor: recognised kfp programs, host commands, environment, cancel, build errors."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import pinnace
from pinnace import dsl
from pinnace.components import create_component_from_func
from pinnace.envs.cache import EnvironmentCache
from pinnace.executors.base import StagedLaunch
from pinnace.executors.local import LocalExecutor
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"


def load_fixture(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"executor_fixture_{name}", FIXTURES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kfp_spec(pipeline_name: str, tmp_path: Path) -> dict[str, Any]:
    """Compile a pipeline of tests/fixtures/engine/kfp_control_flow.py with the real kfp."""
    from kfp import compiler

    module = load_fixture("kfp_control_flow")
    path = tmp_path / f"{pipeline_name}.yaml"
    compiler.Compiler().compile(getattr(module, pipeline_name), str(path))
    return yaml.safe_load(path.read_text())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home")


def log_of(result: pinnace.RunResult, task: str) -> str:
    return Path(result.task(task).log_path).read_text()


def test_kfp_v2_program_runs_with_the_runtime_without_installing_kfp(settings, tmp_path):
    # Compiled by the real kfp: its command pip-installs kfp; Pinnace runs its own runtime
    # in the base interpreter instead (no packages left to install, nothing built).
    result = pinnace.run(
        kfp_spec("plain_pipeline", tmp_path),
        arguments={"n": 4},
        settings=settings,
        use_current_python=False,
    )
    assert result.state == "SUCCEEDED", result.error
    assert result.task("double-2").outputs == {"Output": 16}
    assert "(no packages)" in log_of(result, "double")
    assert not any(settings.envs_dir.glob("*/pyvenv.cfg"))


def test_kfp_v1_function_components_run(settings):
    functions = load_fixture("v1_functions")
    add_op = create_component_from_func(functions.add)
    write_op = create_component_from_func(functions.write_lines)
    count_op = create_component_from_func(functions.count_lines)

    @dsl.pipeline(name="v1")
    def pipeline(a: float = 1.5):
        add_op(a=a, b=2.0)
        count_op(text=write_op(n=3).outputs["out"])

    result = pinnace.run(pipeline, settings=settings, use_current_python=False)
    assert result.state == "SUCCEEDED", result.error
    backend = pinnace.backend.open_backend(settings)
    try:
        for task, expected in (("add", b"3.5"), ("count-lines", b"3")):
            with backend.artifacts.open(result.task(task).outputs["output"]) as f:
                assert f.read() == expected
    finally:
        backend.close()


def test_unrecognised_command_runs_on_the_host_with_a_warning(settings, tmp_path):
    result = pinnace.run(
        kfp_spec("container_pipeline", tmp_path),
        arguments={"text": "yo", "prefix": "P"},
        settings=settings,
    )
    assert result.state == "SUCCEEDED", result.error
    task = result.task("shout")
    out = str(settings.work_dir)
    assert task.outputs["out"].startswith("<yo> --prefix P " + out)
    log = log_of(result, "shout")
    assert "warning: image 'alpine:3' not used" in log and "'sh'" in log


def test_a_missing_program_fails_clearly(settings, tmp_path):
    result = pinnace.run(kfp_spec("missing_program_pipeline", tmp_path), settings=settings)
    assert result.state == "FAILED"
    error = result.task("run-missing-program").error
    assert "'pinnace-no-such-program'" in error and "example.com/tool:1" in error
    assert "Traceback" not in log_of(result, "run-missing-program")
    assert "not on this machine" in log_of(result, "run-missing-program")


@dsl.component
def show_env() -> str:
    import json
    import os

    return json.dumps({k: os.environ.get(k) for k in ("GREETING", "PYTHONPATH", "VIRTUAL_ENV")})


def test_spec_env_reaches_the_task_and_parent_pythonpath_does_not(settings, monkeypatch):
    import json

    monkeypatch.setenv("PYTHONPATH", "/leaked/path")
    monkeypatch.setenv("VIRTUAL_ENV", "/leaked/venv")

    @dsl.pipeline(name="env")
    def pipeline():
        show_env().set_env_variable("GREETING", "hello there")

    result = pinnace.run(pipeline, settings=settings, use_current_python=True)
    assert result.state == "SUCCEEDED", result.error
    seen = json.loads(result.task("show-env").outputs["Output"])
    assert seen["GREETING"] == "hello there"
    assert "/leaked" not in seen["PYTHONPATH"]
    assert seen["VIRTUAL_ENV"] is None


def test_cancel_kills_a_sleeping_task(tmp_path):
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=1,
    )
    workdir = tmp_path / "w"
    workdir.mkdir()
    launch = StagedLaunch(
        run_id="r",
        task_name="sleeper",
        execution_id="e1",
        image="busybox",
        command=("sleep", "30"),
        args=(),
        executor_input={},
        output_metadata_path=workdir / "executor_output.json",
        workdir=workdir,
        log_path=tmp_path / "sleeper.log",
    )
    try:
        future = executor.submit_staged(launch)
        deadline = time.monotonic() + 10
        while not executor._processes and time.monotonic() < deadline:  # wait for the spawn
            time.sleep(0.02)
        pid = executor._processes["e1"].root
        executor.cancel("e1")
        outcome = future.result(timeout=10)  # killed: the 30 s sleep did not run out
        executor.cancel("e1")  # too late, and an id never submitted: nothing is kept
        executor.cancel("never-submitted")
        assert not executor._canceled and not executor._submitted
    finally:
        executor.close()
    assert not outcome.ok and outcome.error == "canceled"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@dsl.component(packages_to_install=["pinnace-no-such-package-xyz"])
def needs_missing_package() -> str:
    return "never"


def test_an_environment_that_cannot_be_built_fails_the_task_cleanly(settings, monkeypatch):
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.delenv("UV_OFFLINE", raising=False)

    @dsl.pipeline(name="unbuildable")
    def pipeline():
        needs_missing_package()

    result = pinnace.run(pipeline, settings=settings, use_current_python=False)
    assert result.state == "FAILED"
    task = result.task("needs-missing-package")
    assert task.state == "FAILED"
    assert "pinnace-no-such-package-xyz" in task.error
    log = log_of(result, "needs-missing-package")
    assert "pinnace-no-such-package-xyz" in log
    assert "Traceback" not in log


def test_cancel_escalates_to_sigkill_for_a_task_ignoring_sigterm(tmp_path, monkeypatch):
    monkeypatch.setattr("pinnace.executors.local._KILL_GRACE_SECONDS", 0.5)
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=1,
    )
    workdir = tmp_path / "w"
    workdir.mkdir()
    ready = workdir / "trap-set"
    launch = StagedLaunch(
        run_id="r",
        task_name="stubborn",
        execution_id="e2",
        image="busybox",
        command=("sh", "-c", f"trap '' TERM; touch {ready}; sleep 30"),
        args=(),
        executor_input={},
        output_metadata_path=workdir / "executor_output.json",
        workdir=workdir,
        log_path=tmp_path / "stubborn.log",
    )
    try:
        future = executor.submit_staged(launch)
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        executor.cancel("e2")
        outcome = future.result(timeout=10)  # SIGKILL came: the 30 s sleep did not run out
    finally:
        executor.close()
    assert outcome.error == "canceled"


def pythonpath_of_task() -> str:
    import os as os_

    print("PP=" + os_.environ["PYTHONPATH"])
    return os_.environ["PYTHONPATH"]


def test_a_pythonpath_set_by_the_task_is_kept_after_the_runtime(settings):
    component = dsl.component(pythonpath_of_task)

    @dsl.pipeline(name="pythonpath")
    def pipeline():
        component().set_env_variable("PYTHONPATH", "/opt/extra")

    result = pinnace.run(pipeline, settings=settings)
    value = result.tasks[0].outputs["Output"]
    parts = value.split(os.pathsep)
    assert parts[-1] == "/opt/extra" and "runtime" in parts[0]


@dsl.component
def leaves_a_daemon(pid_file: str) -> str:
    import subprocess

    daemon = subprocess.Popen(["sleep", "300"], start_new_session=True)
    with open(pid_file, "w") as f:
        f.write(str(daemon.pid))
    return "done"


def test_a_daemon_left_by_a_succeeded_task_is_killed_and_the_process_recorded(settings, tmp_path):
    from pinnace.backend import open_backend
    from pinnace.executors._proctree import is_running

    pid_file = tmp_path / "daemon.pid"

    @dsl.pipeline(name="daemon")
    def pipeline():
        leaves_a_daemon(pid_file=str(pid_file))

    result = pinnace.run(pipeline, settings=settings, use_current_python=True)
    assert result.state == "SUCCEEDED"
    daemon = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while is_running(daemon, "") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not is_running(daemon, "")
    backend = open_backend(settings)
    try:
        (execution,) = backend.metadata.list_executions(result.run_id)
    finally:
        backend.close()
    assert execution.process["pid"] > 0 and execution.process["start_ticks"]
