"""Injecting faults into real `pinnace` processes and auditing what the steps journaled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinnace.executors._proctree import is_running

REPO = Path(__file__).resolve().parents[2]
JOURNALED = REPO / "tests" / "fixtures" / "faults" / "journaled.py"
PINNACE = Path(sys.executable).parent / "pinnace"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINNACE_")}
    env.update(extra)
    return env


def start_pinnace(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`pinnace --home HOME ARGS...` in the background (output to files under HOME)."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(PINNACE), "--home", str(home), *args],
        cwd=REPO,
        env=env or clean_env(),
        stdout=open(home / "stdout.txt", "ab"),
        stderr=open(home / "stderr.txt", "ab"),
        stdin=subprocess.DEVNULL,
    )


def pinnace_json(home: Path, *args: str) -> Any:
    done = subprocess.run(
        [str(PINNACE), "--home", str(home), *args, "--json"],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout[done.stdout.index("{") if done.stdout.startswith("{") else 0 :])


def wait_until(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Journal:
    """What the steps wrote: events in order, as (event, task, execution, pid)."""

    path: Path
    events: list[tuple[str, str, str, int]] = field(default_factory=list)

    def read(self) -> Journal:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        self.events = [(e, t, x, int(p)) for e, t, x, p in (line.split() for line in lines)]
        return self

    def has(self, event: str, task: str) -> bool:
        return any(e == event and t == task for e, t, _, _ in self.read().events)

    def pids(self) -> set[int]:
        return {p for _, _, _, p in self.read().events}

    def audit(self, succeeded: list[str], run_of: dict[str, str] | None = None) -> list[str]:
        """Broken promises: overlaps, completed tasks that ran again, survivors.

        `succeeded`: the execution ids the store recorded SUCCEEDED; `run_of` maps execution
        ids to their runs when the journal holds several runs (one run by default).
        """
        run_of = run_of or {}
        problems = []
        self.read()
        done_at: dict[tuple[str, str], int] = {}
        starts: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        for index, (event, task, execution, pid) in enumerate(self.events):
            key = (run_of.get(execution, ""), task)
            if event == "overlap":
                problems.append(f"{task} ran twice at once (execution {execution}, pid {pid})")
            if event == "start":
                starts[key].append(index)
            if event == "done" and execution in succeeded:
                done_at[key] = index
        for task, index in done_at.items():
            later = [i for i in starts[task] if i > index]
            if later:
                problems.append(f"{task} ran again after it succeeded")
        survivors = [pid for pid in self.pids() if is_running(pid, "")]
        if survivors:
            problems.append(f"processes survived: {survivors}")
        return problems


def kill(process: subprocess.Popen, signum: int = signal.SIGKILL) -> int:
    process.send_signal(signum)
    return process.wait(timeout=60)


def all_gone(pids: set[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(is_running(p, "") for p in pids):
            return True
        time.sleep(0.05)
    return False


def store_view(home: Path) -> dict[str, Any]:
    """The runs of HOME as the store has them: {run_id: {"state", "error", "tasks",
    "succeeded": [execution id], "running_executions"}} (without settling anything).

    The fixture's tasks are step, step-2 and step-3 (journaled as first, second, third)."""
    from pinnace.backend import open_backend
    from pinnace.settings import Settings

    backend = open_backend(Settings.load(env={}, home=home), settle=False)
    try:
        view = {}
        for run in backend.metadata.list_runs(limit=1000):
            executions = backend.metadata.list_executions(run.run_id)
            view[run.run_id] = {
                "state": run.state.value,
                "error": run.error,
                "tasks": {
                    t.task_name: t.state.value for t in backend.metadata.list_tasks(run.run_id)
                },
                "succeeded": [e.execution_id for e in executions if e.state.value == "SUCCEEDED"],
                "running_executions": [e.execution_id for e in executions if not e.state.terminal],
                "executions": [e.execution_id for e in executions],
                "recurring_run_id": run.recurring_run_id,
            }
        return view
    finally:
        backend.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def journaled_spec() -> dict[str, Any]:
    """The fixture pipeline compiled to IR (for the server's REST API)."""
    import importlib.util

    from pinnace.compiler import compile_pipeline

    spec = importlib.util.spec_from_file_location("faults_journaled", JOURNALED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return compile_pipeline(module.journaled)


class Server:
    """A real `pinnace server --no-auth` on HOME; started, killed and restarted by tests."""

    def __init__(self, home: Path, port: int | None = None, **env: str) -> None:
        self.home, self.port = home, port or free_port()
        self.env = clean_env(PINNACE_USE_CURRENT_PYTHON="1", PINNACE_LEASE_SECONDS="3", **env)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apis/v2beta1"

    def start(self) -> Server:
        import httpx

        self.process = start_pinnace(
            self.home,
            "server",
            "--no-auth",
            "--unsandboxed",
            "--port",
            str(self.port),
            env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/healthz").raise_for_status()
                return self
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {(self.home / 'stderr.txt').read_text()}")

    def stop(self, signum: int = signal.SIGKILL) -> int:
        """Signal the server process alone (its tasks must die with it by themselves)."""
        assert self.process is not None
        return kill(self.process, signum)

    def schedule(self, journal: Path, seconds: float, every: int = 1) -> str:
        """A recurring run of the fixture every `every` s, at most one run at a time."""
        import httpx

        body = {
            "display_name": "journaled-every-second",
            "pipeline_spec": journaled_spec(),
            "runtime_config": {"parameters": {"journal": str(journal), "seconds": seconds}},
            "trigger": {"periodic_schedule": {"interval_second": str(every)}},
            "max_concurrency": "1",
            "no_catchup": True,
        }
        response = httpx.post(f"{self.url}/recurringruns", json=body)
        response.raise_for_status()
        return str(response.json()["recurring_run_id"])

    def disable(self, recurring_run_id: str) -> None:
        import httpx

        httpx.post(f"{self.url}/recurringruns/{recurring_run_id}:disable").raise_for_status()

    def submit(self, journal: Path, seconds: float) -> str:
        import httpx

        body = {
            "display_name": "journaled",
            "pipeline_spec": journaled_spec(),
            "runtime_config": {"parameters": {"journal": str(journal), "seconds": seconds}},
        }
        response = httpx.post(f"{self.url}/runs", json=body)
        response.raise_for_status()
        return str(response.json()["run_id"])
