"""The step sandbox module: variables from an allowlist, bubblewrap required where asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.errors import ExecutorError
from pinnace.executors import _sandbox
from pinnace.executors._sandbox import Sandbox, SandboxUnavailable, allowed_variables
from pinnace.settings import Settings


def test_only_allowlisted_variables_reach_a_step() -> None:
    source = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "PINNACE_ADMIN_PASSWORD": "secret",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "PINNACE_HOME": "/srv/pinnace",
        "PYTHONPATH": "/leaked",
        "WANDB_API_KEY": "chosen",
        "PINNACE_STEP_ENV": "WANDB_API_KEY, MISSING",
    }
    env = allowed_variables(source)
    assert env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "WANDB_API_KEY": "chosen",
    }
    assert allowed_variables({})["PATH"]


def test_missing_bubblewrap_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sandbox.shutil, "which", lambda name, **kw: None)
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox.require()
    assert "bwrap is not installed" in info.value.message
    assert "apt-get install bubblewrap" in (info.value.hint or "")
    assert "--unsandboxed" in (info.value.hint or "")


def test_a_server_refuses_to_start_without_a_sandbox_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pinnace.server import ServerOptions, create_app

    monkeypatch.setattr(_sandbox.shutil, "which", lambda name, **kw: None)
    settings = Settings.load(env={}, home=str(tmp_path / "home"), use_current_python=True)
    options = ServerOptions.load(env={"PINNACE_ADMIN_PASSWORD": "x" * 12})
    with pytest.raises(SandboxUnavailable):
        create_app(settings, options)
    unsandboxed = ServerOptions.load(env={"PINNACE_ADMIN_PASSWORD": "x" * 12}, unsandboxed=True)
    app = create_app(settings, unsandboxed)
    assert app.state.ctx.backend.settings.sandbox is False


def test_no_bind_may_show_the_home_or_database(tmp_path: Path) -> None:
    sandbox = Sandbox("bwrap", (tmp_path / "home", tmp_path / "home" / "pinnace.db"))
    work = tmp_path / "home" / "work" / "t"
    work.mkdir(parents=True)
    argv = sandbox.wrap(["true"], workdir=work, read_only=[tmp_path / "home" / "work"])
    assert "--remount-ro" in argv and argv[-1] == "true"
    with pytest.raises(ExecutorError, match="would show"):
        sandbox.wrap(["true"], workdir=work, read_only=[tmp_path])


def test_python_paths_of_a_virtual_environment() -> None:
    paths = _sandbox.python_paths(sys.executable)
    assert Path(sys.prefix) in paths or Path(sys.base_prefix) in paths


@pytest.mark.skipif(_sandbox.shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_a_wrapped_command_sees_only_what_it_was_given(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    work = tmp_path / "work"
    (work / "in").mkdir(parents=True)
    sandbox = Sandbox.require([secret])
    script = (
        f"import os; print(os.path.exists({str(secret)!r}), os.getuid(), "
        f"sorted(os.listdir({str(tmp_path)!r})))"
    )
    argv = sandbox.wrap(
        [sys.executable, "-c", script],
        workdir=work,
        read_only=_sandbox.python_paths(sys.executable),
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    exists, uid, listed = done.stdout.split(" ", 2)
    assert exists == "False" and "'work'" in listed and "secret" not in listed
    if os.geteuid() == 0:
        assert uid != "0"  # root starts it; the step runs as nobody
