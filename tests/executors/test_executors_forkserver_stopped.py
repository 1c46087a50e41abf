"""A fork server that stops answering never hangs the executor (real processes, real SIGSTOP).

A forked step can stop its server where it runs as the server's user (unsandboxed, or
sandboxed by a Pinnace that is not root); an import can hang one. The tests stop the server
from outside while a step of it runs. Its attempt still ends (lost, with the reason), a cancel
still ends it, `close` still returns, a new server serves the next attempts, and no server
outlives the executor process, even one stopped and killed -9. Unsandboxed fork servers and,
where root, bubblewrap and slirp4netns are there, sandboxed ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_executors_forkserver import make_driver, make_executor

from pinnace import compiler, dsl
from pinnace.executors import forkserver
from pinnace.executors.forkserver import ForkServer, ForkServerError, ServerSpec
from pinnace.executors.local import LocalExecutor
from pinnace.executors.runtime_copy import materialize_runtime

_SANDBOX = os.geteuid() == 0 and shutil.which("bwrap") and shutil.which("slirp4netns")
MODES = [
    "plain",
    pytest.param(
        "sandboxed",
        marks=pytest.mark.skipif(not _SANDBOX, reason="needs root, bubblewrap and slirp4netns"),
    ),
]
_EXECUTOR_SCRIPT = Path(__file__).with_name("stopped_server_executor.py")


@dsl.component
def outlive_my_server(seconds: float) -> str:
    """Once its fork server (its parent) is stopped, as a task of it could (not root, a
    forked step is its server's user) or a hang would: `seconds` more, then it ends."""
    import os
    import time

    def state() -> str:
        with open(f"/proc/{os.getppid()}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]

    waited = time.time()
    while state() != "T" and time.time() < waited + 60:
        time.sleep(0.05)
    time.sleep(seconds)
    return "outlived"


@dsl.component
def hello() -> str:
    return "hello"


@dsl.component
def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="stop-the-server")
def stopper(seconds: float = 0.0):
    outlive_my_server(seconds=seconds).set_caching_options(False)


@dsl.pipeline(name="hello")
def greeter():
    hello().set_caching_options(False)


@dsl.pipeline(name="nap")
def napper(seconds: float = 8.0):
    nap(seconds=seconds).set_caching_options(False)


class _Plain:
    """An executor with unsandboxed fork servers, run as the sandboxed tests' Harness."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.executor = make_executor(self.home)
        self.driver = make_driver(self.home, self.executor)

    def run(self, pipeline: Any, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        run = self.driver.create_run(compiler.compile_pipeline(pipeline), arguments, cache=False)
        final = self.driver.drive(run.run_id)
        executions = {e.task_name: e for e in self.driver.metadata.list_executions(run.run_id)}
        return {"state": final.state.value, "executions": executions}

    def close(self) -> None:
        self.executor.close()


@pytest.fixture(params=MODES)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sandboxed":
        from test_executors_forking_sandboxed import Harness

        made: Any = Harness(tmp_path, forked=True)
    else:
        made = _Plain(tmp_path)
    yield made
    servers = _servers(made.executor)
    closer = threading.Thread(target=made.close, daemon=True)
    closer.start()
    closer.join(30)
    for pid in servers:  # never leave a stopped server behind, whatever failed
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _servers(executor: LocalExecutor) -> list[int]:
    pool = executor._forking.pool
    assert pool is not None
    return [s.server.pid for s in list(pool._slots.values()) if s.server is not None]


def _state(pid: int) -> str:
    """The process's state letter ("" once gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def go() -> None:
        try:
            out["result"] = work()
        except BaseException as exc:  # shown by the test that reads it
            out["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread, out


def _stop_server(harness: Any, out: dict[str, Any]) -> int:
    """SIGSTOP the fork server of the attempt running now (once it is running); its pid."""
    found: list[int] = []

    def forked() -> bool:
        pool = harness.executor._forking.pool
        found[:] = [
            s.server.pid
            for s in list(pool._slots.values())
            if s.server is not None and s.server.in_flight
        ]
        return bool(found) and bool(harness.executor._processes)

    assert _wait_until(forked, 60), f"no attempt forked: {out}"
    os.kill(found[0], signal.SIGSTOP)
    return found[0]


def test_a_step_whose_server_stops_fails_lost_and_the_next_forks_from_a_new_one(harness):
    control = harness.run(greeter)
    (first,) = control["executions"].values()
    assert "forked" in first.environment, first.environment
    started = time.monotonic()
    thread, out = _in_thread(lambda: harness.run(stopper, {"seconds": 1.0}))
    _stop_server(harness, out)
    thread.join(5 + forkserver.REPORT_SECONDS + 20)
    assert not thread.is_alive(), "the run of a step whose fork server stopped never ended"
    took = time.monotonic() - started
    result = out["result"]
    (execution,) = result["executions"].values()
    assert result["state"] == "FAILED"
    assert "did not report the end of the task's process" in (execution.error or "")
    assert "exit code is unknown" in execution.error
    server = first.environment["forked"]["server_pid"]
    assert _wait_until(lambda: _state(server) in ("", "Z"), 10), "the stopped server still runs"
    again = harness.run(greeter)
    (later,) = again["executions"].values()
    assert again["state"] == "SUCCEEDED"
    assert later.environment["forked"]["server_pid"] != server
    print(f"stopped server: the step's attempt ended {took:.1f} s after its run began")


def test_a_step_whose_server_stops_can_be_canceled(harness):
    thread, out = _in_thread(lambda: harness.run(stopper, {"seconds": 300.0}))
    _stop_server(harness, out)
    (execution_id,) = list(harness.executor._processes)
    harness.executor.cancel(execution_id)
    thread.join(forkserver.REPORT_SECONDS + 20)
    assert not thread.is_alive(), "a cancel did not end a step whose fork server stopped"
    (execution,) = out["result"]["executions"].values()
    assert execution.error == "canceled"


def test_close_returns_while_a_step_holds_its_server_stopped(harness):
    thread, out = _in_thread(lambda: harness.run(stopper, {"seconds": 300.0}))
    _stop_server(harness, out)
    started = time.monotonic()
    closer, _ = _in_thread(harness.executor.close)
    closer.join(30)
    assert not closer.is_alive(), "close() hung on a stopped fork server"
    assert time.monotonic() - started < 20
    thread.join(10)


def test_a_long_forked_step_is_not_taken_for_lost(harness):
    """Its server reports it: no step outliving the grace of an unreported end is given up."""
    result = harness.run(napper, {"seconds": forkserver.REPORT_SECONDS + 3})
    (execution,) = result["executions"].values()
    assert result["state"] == "SUCCEEDED", execution.error
    assert "forked" in execution.environment


@pytest.mark.parametrize("mode", MODES)
def test_no_fork_server_outlives_its_executor_killed_9(tmp_path, mode):
    """Even stopped (no end of its socket read): the parent-death signal kills it, and a
    sandboxed one's bwrap, from the thread that started it, which lives as long as the
    executor process."""
    executor = subprocess.Popen(
        [sys.executable, str(_EXECUTOR_SCRIPT), mode, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert executor.stdout is not None
        line = executor.stdout.readline()
        servers = json.loads(line)
        assert servers, "the executor started no fork server"
        pids = {p for s in servers for p in (s["server"], s["process"])}
        for server in servers:  # as a step of it could
            os.kill(server["server"], signal.SIGSTOP)
        assert _wait_until(lambda: all(_state(s["server"]) == "T" for s in servers), 10)
        executor.kill()
        executor.wait()
        left = lambda: {p: _state(p) for p in pids if _state(p) not in ("", "Z")}  # noqa: E731
        assert _wait_until(lambda: not left(), 10), f"outlived the executor: {left()}"
    finally:
        executor.kill()
        executor.wait()
        for pid in locals().get("pids", ()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# -- one server, its waits bounded ------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ForkServer]:
    runtime = materialize_runtime(tmp_path / "home")
    library = tmp_path / "lib"
    library.mkdir()
    (library / "hangs_on_import.py").write_text("import time\ntime.sleep(3600)\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{runtime}:{library}"}
    spec = ServerSpec(key="k", environment="env", python=sys.executable, env=env)
    made = ForkServer(spec, [["json", []]], tmp_path / "scratch")
    yield made
    made.close()


def test_a_stopped_server_that_does_not_answer_a_fork_is_killed(server, tmp_path, monkeypatch):
    monkeypatch.setattr(forkserver, "REPLY_SECONDS", 1.0)
    os.kill(server.pid, signal.SIGSTOP)
    started = time.monotonic()
    with open(tmp_path / "log", "wb") as log, pytest.raises(ForkServerError) as raised:
        server.fork(
            "e1",
            kind="module",
            target="json.tool",
            args=[],
            cwd=str(tmp_path),
            env={},
            stdout=log.fileno(),
            supervision={},
        )
    assert "did not answer a fork request in 1 s" in str(raised.value)
    assert time.monotonic() - started < 10
    assert not server.alive
    assert _wait_until(lambda: not server.running, 10)


def test_a_server_whose_import_hangs_is_killed(server, monkeypatch):
    monkeypatch.setattr(forkserver, "IMPORT_SECONDS", 1.0)
    started = time.monotonic()
    reply = server.preload([["hangs_on_import", []]])
    assert "fork server did not finish in 1 s while importing" in reply["unsafe"]
    assert time.monotonic() - started < 10
    assert _wait_until(lambda: not server.running, 10)


def test_a_server_stopped_while_importing_is_given_up_before_its_import_time(server):
    os.kill(server.pid, signal.SIGSTOP)
    started = time.monotonic()
    reply = server.preload([["email.mime.text", []]])
    assert "fork server was stopped while importing" in reply["unsafe"]
    assert time.monotonic() - started < forkserver.REPORT_SECONDS + 5
    assert _wait_until(lambda: not server.running, 10)


def test_a_server_started_from_a_thread_that_ended_lives_on(tmp_path):
    """Its parent-death signal is tied to the lifeline thread, not to the (pool's short-lived)
    thread that asked for it."""
    runtime = materialize_runtime(tmp_path / "home")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(runtime)}
    spec = ServerSpec(key="k", environment="env", python=sys.executable, env=env)
    made: list[ForkServer] = []
    starter = threading.Thread(
        target=lambda: made.append(ForkServer(spec, [["json", []]], tmp_path / "scratch"))
    )
    starter.start()
    starter.join()
    (server,) = made
    try:
        time.sleep(0.5)
        assert server.running, "the server died with the thread that started it"
        assert not server.preload([["email.mime.text", []]]).get("unsafe")
    finally:
        server.close()
