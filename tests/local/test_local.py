"""kfp.local's API on Pinnace: components and pipelines called outside a pipeline run now."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace import dsl, local
from pinnace.dsl._local import set_local_runner
from pinnace.errors import LocalRunError

HERE = Path(__file__).resolve().parent


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.component
def write(text: str, out: dsl.Output[dsl.Dataset]) -> int:
    with open(out.path, "w") as f:
        f.write(text)
    out.metadata["chars"] = len(text)
    return len(text)


@dsl.component
def fail(message: str):
    raise ValueError(message)


@dsl.component
def read(data: dsl.Input[dsl.Dataset]) -> str:
    return open(data.path).read()


@dsl.pipeline
def double_sum(n: int = 2) -> int:
    first = add(a=n, b=n)
    return add(a=first.output, b=first.output).output


@dsl.pipeline(name="failing")
def failing():
    with dsl.ExitHandler(add(a=1, b=1)):
        fail(message="kaput")


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv("PINNACE_HOME", str(tmp_path / "home"))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "out"))
    yield tmp_path / "out"
    set_local_runner(None)


def test_a_call_outside_a_pipeline_needs_init():
    with pytest.raises(RuntimeError, match=r"Local environment not initialized"):
        add(a=1, b=2)


def test_a_component_runs_and_returns_its_outputs(session):
    task = add(a=1, b=2)
    assert task.output == 3 and task.outputs == {"Output": 3}
    made = write(text="hello")
    assert made.outputs["Output"] == 5
    dataset = made.outputs["out"]
    assert isinstance(dataset, dsl.Dataset)
    assert Path(dataset.path).read_text() == "hello"
    assert Path(dataset.path).is_relative_to(session)
    assert dataset.metadata == {"chars": 5}
    with pytest.raises(AttributeError, match="multiple outputs"):
        made.output


def test_a_pipeline_runs_and_returns_its_outputs(session):
    assert double_sum(n=3).output == 12


def test_failures_raise_as_kfp_or_are_logged(session, tmp_path):
    with pytest.raises(RuntimeError, match="Task 'fail' finished with status FAILURE"):
        fail(message="boom")
    with pytest.raises(LocalRunError, match="Inner task failed: 'fail' inside 'exit-handler-1'"):
        failing()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "out"),
        raise_on_error=False,
    )
    assert fail(message="boom").outputs == {}


def test_task_settings_warn_or_raise_as_kfp(session):
    task = add(a=1, b=1)
    with pytest.warns(UserWarning, match=r"'\.set_cpu_limit\(\)' is not used"):
        assert task.set_cpu_limit("1") is task
    with pytest.raises(RuntimeError, match=r"Got call to '\.set_retry\(\)'"):
        task.set_retry(2)


def test_input_artifacts_are_refused_as_kfp_does(session):
    made = write(text="x")
    with pytest.raises(ValueError, match="Input artifacts are not yet supported"):
        read(data=made.outputs["out"])


def test_runners_check_their_arguments_as_kfp():
    with pytest.raises(ValueError, match="Unsupported `docker run` arguments"):
        local.DockerRunner(no_such_option=1)
    with pytest.raises(ValueError, match="should not be specififed: image"):
        local.DockerRunner(image="alpine")
    with pytest.raises(ValueError, match="Got unknown runner"):
        local.init(runner="subprocess")  # type: ignore[arg-type]


SUITE = """
from kfp import Client, compiler, components, dsl, local
import kfp

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root={root!r})


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


def test_add():
    assert "Pinnace" in kfp.__doc__ and Client.__module__.startswith("pinnace")
    assert add(a=1, b=2).output == 3
"""


def test_pinnace_exec_runs_a_kfp_test_suite_on_pinnace(tmp_path):
    """With the real kfp installed, `pinnace exec -- pytest` still runs the suite on Pinnace."""
    (tmp_path / "test_suite.py").write_text(SUITE.format(root=str(tmp_path / "out")))
    pinnace = Path(sys.executable).parent / "pinnace"
    done = subprocess.run(
        [
            str(pinnace),
            "--home",
            str(tmp_path / "home"),
            "exec",
            "--",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_suite.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_activate_in_a_conftest(tmp_path):
    conftest = "import pinnace.kfp_alias\npinnace.kfp_alias.activate()\n"
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_suite.py").write_text(SUITE.format(root=str(tmp_path / "out")))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_suite.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PINNACE_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
