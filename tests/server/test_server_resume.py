"""A `pinnace server` killed (SIGKILL) mid-run resumes the run when it starts again:
finished tasks are reused, the rest run, the run ends SUCCEEDED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from server_support import free_port

from pinnace import dsl
from pinnace.compiler import compile_pipeline


@dsl.component
def count(tally: str) -> str:
    with open(tally, "a") as f:
        f.write("ran\n")
    return "counted"


@dsl.component
def slow(seconds_file: str, after: str) -> str:
    import time

    time.sleep(float(open(seconds_file).read()))
    return after


@dsl.pipeline(name="killable")
def killable(tally: str, seconds_file: str):
    first = count(tally=tally)
    slow(seconds_file=seconds_file, after=first.output)


def _start_server(home: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PINNACE_HOME": str(home), "PINNACE_USE_CURRENT_PYTHON": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pinnace.cli.main import main; main()",
            "server",
            "--no-auth",
            # its steps talk to the test through files in tmp_path, which a sandbox hides
            "--unsandboxed",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/apis/v2beta1/healthz").raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("pinnace server did not start")


def _wait(url: str, condition, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(url).json()
        if condition(run):
            return run
        time.sleep(0.1)
    raise AssertionError(f"timed out; last: {run}")


def _task_states(run: dict) -> dict[str, str]:
    tasks = (run.get("run_details") or {}).get("task_details", [])
    return {t["display_name"]: t["state"] for t in tasks if t.get("parent_task_id")}  # not root


def test_a_killed_server_resumes_its_run_on_restart(tmp_path: Path) -> None:
    home, tally, seconds = tmp_path / "home", tmp_path / "tally.txt", tmp_path / "seconds"
    seconds.write_text("60")
    port = free_port()
    base = f"http://127.0.0.1:{port}/apis/v2beta1"
    server = _start_server(home, port)
    try:
        body = {
            "display_name": "killable",
            "pipeline_spec": compile_pipeline(killable),
            "runtime_config": {"parameters": {"tally": str(tally), "seconds_file": str(seconds)}},
        }
        run_id = httpx.post(f"{base}/runs", json=body).json()["run_id"]
        _wait(f"{base}/runs/{run_id}", lambda r: _task_states(r).get("slow") == "RUNNING")
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and the task it runs
        server.wait()
    seconds.write_text("0")
    server = _start_server(home, port)
    try:
        run = _wait(f"{base}/runs/{run_id}", lambda r: r["state"] in ("SUCCEEDED", "FAILED"))
        assert run["state"] == "SUCCEEDED", run.get("error")
        assert tally.read_text() == "ran\n"  # the finished task was not executed again
        assert _task_states(run) == {"count": "SUCCEEDED", "slow": "SUCCEEDED"}
    finally:
        server.terminate()
        server.wait(30)
