"""`pinnace run --server URL`: compile here, run on a live server, follow it, exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from server_support import LiveServer

PIPELINE = """
from pinnace import dsl


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.component
def explode(value: int):
    if value > 100:
        raise RuntimeError("too big")


@dsl.pipeline(name="remote-adder")
def adder(x: int = 1):
    total = add(a=x, b=2)
    explode(value=total.output)
"""


def _pinnace(*args: str, token: str | None, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PINNACE_HOME": str(home)}
    env.pop("PINNACE_TOKEN", None)
    if token:
        env["PINNACE_TOKEN"] = token
    command = [sys.executable, "-c", "from pinnace.cli.main import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_run_on_a_server_follows_progress_and_prints_json(
    server: LiveServer, admin_token: str, tmp_path: Path
) -> None:
    source = tmp_path / "adder.py"
    source.write_text(PIPELINE)
    done = _pinnace(
        "run", str(source), "-p", "x=5", "--server", server.url, "--json",
        token=admin_token, home=tmp_path / "client-home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "SUCCEEDED"
    assert {t["name"]: t["state"] for t in result["tasks"]} == {
        "add": "SUCCEEDED",
        "explode": "SUCCEEDED",
    }
    assert set(result) == {"run_id", "state", "tasks", "outputs"}
    assert "SUCCEEDED" in done.stderr and " add" in done.stderr
    stored = server.app.state.ctx.backend.metadata.get_run(result["run_id"])
    assert stored.parameters == {"x": 5}


def test_a_failing_run_exits_1_and_a_bad_token_exits_nonzero(
    server: LiveServer, admin_token: str, tmp_path: Path
) -> None:
    source = tmp_path / "adder.py"
    source.write_text(PIPELINE)
    home = tmp_path / "client-home"
    failed = _pinnace(
        "run", str(source), "-p", "x=500", "--server", server.url, token=admin_token, home=home
    )
    assert failed.returncode == 1
    assert "FAILED" in failed.stdout and "too big" in failed.stderr
    refused = _pinnace("run", str(source), "--server", server.url, token="pnc_bad", home=home)
    assert refused.returncode not in (0, 1)
    assert "401" in refused.stderr
