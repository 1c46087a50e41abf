"""The harness of the attack suite (test_executors_sandbox_attacks.py): a server's executor
of each mode over a home holding secrets, runs of several owners side by side, and the gaps
forked steps are known to have."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import platform
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace import dsl
from pinnace.backend import Backend, open_backend
from pinnace.compiler import compile_pipeline
from pinnace.executors import _sandbox
from pinnace.executors.local import LocalExecutor
from pinnace.settings import Settings
from pinnace.stores.base import RunRecord

AS_ROOT = os.geteuid() == 0
#: every task of a pipeline here starts at once (after a failure, no new task starts)
PARALLELISM = 16
#: what a sandboxed step's record says on main before sandboxed attempts fork
NOT_FORKED_YET = frozenset({"fork servers are off", "sandboxed"})
#: what forked steps cannot promise yet (docs/fork-servers.md, "Sandboxed attempts"): a test
#: of it is a strict xfail for them, so the entry must go with the change that closes the gap
FORKED_GAPS: dict[str, str] = {
    "pid namespace": "not root, a forked step runs as its server's user: it can signal its "
    "server and its owner's other forked steps, and list their descriptors",
}
#: secrets of the process that runs the steps (a server): none may reach a step
CANARIES = {
    "PINNACE_ADMIN_PASSWORD": f"admin-{uuid.uuid4().hex}",
    "AWS_SECRET_ACCESS_KEY": f"aws-{uuid.uuid4().hex}",
    "GOOGLE_APPLICATION_CREDENTIALS": f"/secret/gcp-{uuid.uuid4().hex}.json",
    "PINNACE_TEST_ATTACK_CANARY": f"canary-{uuid.uuid4().hex}",
}


# -- the world the steps attack ---------------------------------------------------------------


@dataclasses.dataclass
class Ran:
    """A finished run: its state, and per task its record, execution record and report."""

    run_id: str
    state: str
    tasks: dict[str, Any]
    executions: dict[str, dict[str, Any]]

    def report(self, task: str) -> Any:
        """The task's output `Output` (a JSON report), parsed."""
        record = self.tasks[task]
        assert record.state.value == "SUCCEEDED", (task, record.error, self.log(task))
        value = record.outputs["parameters"]["Output"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    def log(self, task: str) -> str:
        path = self.tasks[task].log_path
        return Path(path).read_text(errors="replace") if path and Path(path).exists() else ""


class Steps:
    """A server's executor and driver over a home holding secrets; runs pipelines in it."""

    def __init__(
        self, mode: str, home: Path, backend: Backend, executor: LocalExecutor, key: str
    ) -> None:
        self.mode = mode
        #: a key of the server's session keyring
        self.session_key = key
        self.home = home
        self.backend = backend
        self.executor = executor
        self.driver = backend.driver(executor)
        #: a file of the server's own (its configuration's token)
        self.secret_file = home / "config.toml"
        self.secret = f"token-{uuid.uuid4().hex}"
        self.secret_file.write_text(f'token = "{self.secret}"\n')
        os.chmod(self.secret_file, 0o600)
        #: an earlier run's artifact and its kept (failed) attempt folder
        self.earlier_artifact = Path(backend.settings.artifact_root) / "earlier" / "t" / "data"
        self.earlier_folder = backend.settings.work_dir / "earlier" / "t" / "0"
        for path in (self.earlier_artifact, self.earlier_folder / "secret.txt"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"earlier-{self.secret}")

    @property
    def secrets(self) -> list[str]:
        """Strings no step may ever read."""
        return [self.secret, self.session_key, *CANARIES.values()]

    def run(
        self,
        pipeline: Any,
        arguments: dict[str, Any] | None = None,
        *,
        driver: Any = None,
        check_mode: bool = True,
    ) -> Ran:
        """Run `pipeline` to its end. Every attempt must have started the mode's way
        (`check_mode`)."""
        (ran,) = self.run_together([(pipeline, arguments or {}, None)], driver=driver)
        if check_mode:
            self.check_mode(ran)
        return ran

    def run_together(
        self,
        runs: list[tuple[Any, dict[str, Any], str | None]],
        *,
        alongside: Callable[[list[str], Callable[[], bool]], None] | None = None,
        driver: Any = None,
    ) -> list[Ran]:
        """Run pipelines (with their arguments, in their owner's namespace) at the same time,
        each driven by its own driver, while `alongside(run ids, all_running)` runs in this
        thread (`all_running()`: no run has ended yet)."""
        drivers = [driver or self.backend.driver(self.executor) for _ in runs]
        made = []
        for each, (pipeline, arguments, namespace) in zip(drivers, runs, strict=True):
            run = each.create_run(compile_pipeline(pipeline), arguments, cache=False)
            if namespace is not None:  # as the server does for a user's run
                each.metadata.update_record(RunRecord, run.run_id, namespace=namespace)
            made.append(run.run_id)
        ended: dict[str, Any] = {}
        threads = [
            threading.Thread(target=lambda d=d, r=r: ended.update({r: d.drive(r)}), daemon=True)
            for d, r in zip(drivers, made, strict=True)
        ]
        for thread in threads:
            thread.start()
        try:
            if alongside is not None:
                alongside(made, lambda: all(t.is_alive() for t in threads))
        except AssertionError as exc:  # say what became of the runs
            for thread in threads:
                thread.join(timeout=120)
            errors = {
                t.task_name: (t.state.value, t.error)
                for each, run_id in zip(drivers, made, strict=True)
                for t in each.metadata.list_tasks(run_id)
            }
            raise AssertionError(f"{exc}; tasks: {errors}") from None
        finally:
            for thread in threads:
                thread.join(timeout=120)
        found = []
        for each, run_id in zip(drivers, made, strict=True):
            tasks = {t.task_name: t for t in each.metadata.list_tasks(run_id)}
            executions = {e.task_name: e.environment for e in each.metadata.list_executions(run_id)}
            found.append(Ran(run_id, ended[run_id].state.value, tasks, executions))
        return found

    def check_mode(self, ran: Ran) -> None:
        """Each attempt of `ran` started the module's way: forked, or fresh."""
        for task, environment in ran.executions.items():
            if self.mode == "forked":
                assert "forked" in environment, (task, environment, ran.tasks[task].error)
            else:
                assert environment.get("fresh") == "fork servers are off", (task, environment)

    @contextlib.contextmanager
    def variant(
        self, sandbox: Callable[[Any], Any] | None = None, **settings: Any
    ) -> Iterator[Any]:
        """A driver over another executor of this home: other `settings`, and its sandbox
        changed by `sandbox` (a function of the one the settings make)."""
        backend = open_backend(dataclasses.replace(self.backend.settings, **settings))
        if sandbox is not None:
            made = backend.sandbox()
            backend.sandbox = lambda: sandbox(made)  # type: ignore[method-assign]
        executor = backend.local_executor(parallelism=PARALLELISM)
        try:
            yield backend.driver(executor)
        finally:
            executor.close()
            backend.close()

    def folder(self, run_id: str, task: str) -> Path | None:
        """The running attempt folder of `task` (None until it is staged)."""
        found = sorted((self.backend.settings.work_dir / run_id / task).glob("[0-9]*"))
        return found[-1] if found else None


def _settings(home: Path, mode: str) -> Settings:
    """A server's settings; `forked` turns sandboxed fork servers on."""
    forked = mode == "forked"
    return Settings.load(
        env={}, home=str(home), sandbox=True, fork_servers=forked, sandboxed_fork_servers=forked
    )


@pytest.fixture(scope="module", params=["fresh", "forked"], name="steps")
def steps_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Steps]:
    """The module's executor of each mode (the `forked` one xfails its tests while main
    starts sandboxed attempts fresh)."""
    mode = request.param
    home = tmp_path_factory.mktemp(f"home-{mode}")
    with pytest.MonkeyPatch.context() as patch, _session_key() as key:
        for name, value in CANARIES.items():
            patch.setenv(name, value)
        backend = open_backend(_settings(home, mode))
        executor = backend.local_executor(parallelism=PARALLELISM)
        try:
            made = Steps(mode, home, backend, executor, key)
            if mode == "forked":
                _forks_or_xfail(made)
            yield made
        finally:
            executor.close()
            backend.close()


@contextlib.contextmanager
def _session_key() -> Iterator[str]:
    """A secret in this thread's session keyring (a new one, not the login session's), where
    a server's Kerberos tickets or credential helpers' keys would be: every thread the
    executor makes from here on, and every process they start, has that keyring."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(_KEYCTL, ctypes.c_long(1), None) >= 0  # KEYCTL_JOIN_SESSION_KEYRING
    secret = f"keyring-{uuid.uuid4().hex}"
    key = libc.syscall(_ADD_KEY, b"user", b"pinnace-attack", secret.encode(), len(secret), -3)
    assert key > 0, ctypes.get_errno()
    try:
        yield secret
    finally:
        libc.syscall(_KEYCTL, ctypes.c_long(3), ctypes.c_long(key))  # KEYCTL_REVOKE


_ADD_KEY, _KEYCTL = {"aarch64": (217, 219)}.get(platform.machine(), (248, 250))


@dsl.component
def hello() -> str:
    return "hello"


@dsl.pipeline(name="attack-hello")
def hello_pipeline():
    hello()


def known_gap(request: pytest.FixtureRequest, mode: str, gap: str) -> None:
    """Mark the running test a strict xfail when `mode` is `forked` (see FORKED_GAPS)."""
    if mode == "forked":
        request.applymarker(pytest.mark.xfail(strict=True, reason=FORKED_GAPS[gap]))


def _forks_or_xfail(steps: Steps) -> None:
    """Xfail (every test of the module's forked executor) while sandboxed steps start fresh."""
    ran = steps.run(hello_pipeline, check_mode=False)
    (record,) = ran.executions.values()
    if "forked" not in record and record.get("fresh") in NOT_FORKED_YET:
        pytest.xfail(f"sandboxed attempts do not fork yet: the record says {record}")


#: what a refused look, signal or open raises, by its type name
REFUSALS = {"PermissionError", "FileNotFoundError", "ProcessLookupError", "OSError"}


def bound_paths() -> list[Path]:
    """What of the machine every step of this module sees (its interpreter's folders)."""
    return _sandbox.python_paths(sys.executable)
