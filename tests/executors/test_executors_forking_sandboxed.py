"""Sandboxed steps forked from a sandboxed fork server, for real (bwrap, root, real tasks).

A forked sandboxed step must see what a fresh sandboxed step sees (its task folder, its
inputs read-only, no capability, a private /tmp, its own network) and nothing of the Pinnace
home, other attempts or other owners; its server shows no attempt's files at all.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace import compiler, dsl
from pinnace.dsl import Dataset, Input, Output
from pinnace.engine.driver import RunDriver
from pinnace.envs.cache import EnvironmentCache
from pinnace.executors._enclosure import STEP_ID_BASE
from pinnace.executors._sandbox import HOST_NETWORK, ISOLATED, NO_NETWORK, Sandbox
from pinnace.executors.local import LocalExecutor
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.stores import open_artifact_store, open_metadata_store

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None or shutil.which("slirp4netns") is None,
    reason="needs root, bubblewrap and slirp4netns",
)


@dsl.component
def produce(text: str, data: Output[Dataset]) -> str:
    import os

    print("producing", text)
    with open(data.path, "w") as f:
        f.write(text * 2)
    os.chmod(data.path, 0o600)  # the next step reads it all the same, forked or fresh
    return text.upper()


@dsl.component
def consume(data: Input[Dataset], suffix: str) -> str:
    with open(data.path) as f:
        content = f.read()
    print("consumed", content)
    return content + suffix


@dsl.component
def fail(message: str) -> str:
    raise ValueError(message)


@dsl.pipeline(name="sandfork-equivalence")
def equivalence(text: str = "ab"):
    made = produce(text=text).set_caching_options(False)
    used = consume(data=made.outputs["data"], suffix="!").set_caching_options(False)
    fail(message=used.output).set_caching_options(False)


class Harness:
    """A sandboxed LocalExecutor with its driver, over a home under `tmp_path`."""

    def __init__(self, tmp_path: Path, *, forked: bool, network: str = NO_NETWORK) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "pinnace.db").write_text("the database")
        os.chmod(tmp_path, 0o755)
        self.sandbox = Sandbox.require([self.home], network=network)
        self.executor = LocalExecutor(
            env_cache=EnvironmentCache(self.home / "envs"),
            runtime_path=materialize_runtime(self.home),
            parallelism=2,
            use_current_python=True,
            artifacts=open_artifact_store(str(self.home / "artifacts")),
            work_dir=self.home / "work",
            sandbox=self.sandbox,
            sandboxed_fork_servers=forked,
        )
        self.driver = RunDriver(
            metadata=open_metadata_store("memory://"),
            artifacts=open_artifact_store(str(self.home / "artifacts")),
            executor=self.executor,
            work_dir=self.home / "work",
            logs_dir=self.home / "logs",
        )

    def run(
        self, pipeline: Any, arguments: dict[str, Any] | None = None, namespace: str | None = None
    ) -> dict[str, Any]:
        spec = compiler.compile_pipeline(pipeline)
        run = self.driver.create_run(spec, arguments, cache=False)
        if namespace is not None:
            self.driver.metadata.update_run(run.run_id, namespace=namespace)
        final = self.driver.drive(run.run_id)
        tasks = {t.task_name: t for t in self.driver.metadata.list_tasks(run.run_id)}
        executions = {e.task_name: e for e in self.driver.metadata.list_executions(run.run_id)}
        return {
            "state": final.state.value,
            "run_id": run.run_id,
            "tasks": tasks,
            "executions": executions,
        }

    def close(self) -> None:
        self.executor.close()


@pytest.fixture
def forked(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, forked=True)
    yield harness
    harness.close()


def _task_lines(log_path: str) -> list[str]:
    """What the component printed (the executor's own lines aside)."""
    return [
        line
        for line in Path(log_path).read_text().splitlines()
        if not line.startswith("pinnace:") and "Traceback" not in line and 'File "' not in line
    ]


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for name, task in result["tasks"].items():
        if not task.log_path:
            continue
        execution = result["executions"].get(name)
        found[name] = {
            "state": task.state.value,
            "outputs": json.loads(json.dumps(task.outputs).replace(result["run_id"], "RUN")),
            "error": (execution.error or "") if execution else None,
            "lines": _task_lines(task.log_path),
        }
    return found


def test_a_forked_sandboxed_step_gives_what_a_fresh_one_gives(tmp_path: Path) -> None:
    fresh_harness = Harness(tmp_path / "fresh", forked=False)
    try:
        fresh = fresh_harness.run(equivalence)
    finally:
        fresh_harness.close()
    forked_harness = Harness(tmp_path / "forked", forked=True)
    try:
        forked_harness.run(equivalence)  # the first run starts the server
        forked = forked_harness.run(equivalence)
    finally:
        forked_harness.close()
    assert fresh["state"] == forked["state"] == "FAILED"
    for name, execution in forked["executions"].items():
        assert execution.environment.get("forked", {}).get("sandboxed") is True, (
            name,
            execution.environment,
        )
    for execution in fresh["executions"].values():
        assert execution.environment.get("fresh") == "sandboxed"
    a, b = _summary(fresh), _summary(forked)
    for summary in (a, b):  # the home's path differs between the two
        for task in summary.values():
            task["outputs"] = json.loads(
                json.dumps(task["outputs"])
                .replace(str(tmp_path / "fresh"), "T")
                .replace(str(tmp_path / "forked"), "T")
            )
    assert a == b
    assert "abab!" in b["fail"]["error"]
    # the artifacts on disk: same files, owners and modes
    on_disk = _artifact_files(tmp_path / "fresh", fresh)
    assert on_disk == _artifact_files(tmp_path / "forked", forked)


def _artifact_files(root: Path, result: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    found = []
    run = root / "home" / "artifacts" / result["run_id"]
    for path in sorted(run.rglob("*")):
        if path.is_file():
            info = path.stat()
            found.append((str(path.relative_to(run)), info.st_uid, info.st_mode, path.read_text()))
    assert found
    return found


@dsl.component
def isolation_probe(data: Input[Dataset], home: str, hidden: str, port: int, name: str) -> str:
    import ctypes
    import errno
    import json
    import os
    import socket
    import time

    def attempt(action) -> str:  # type: ignore[no-untyped-def]
        try:
            action()
            return "ok"
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc.errno))

    def write(path: str) -> None:
        with open(path, "w") as f:
            f.write("x")

    found: dict = {"pid": os.getpid(), "uid": os.getuid()}
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    found["caps"] = [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")]
    found["no_new_privs"] = status["NoNewPrivs"].strip()
    found["home"] = sorted(os.listdir(home))
    found["hidden"] = {p: os.path.exists(p) for p in json.loads(hidden)}
    task = os.getcwd()
    found["input"] = open(data.path).read()
    found["writes"] = {
        p: attempt(lambda p=p: write(p))
        for p in (
            data.path,
            "/planted",
            "/usr/planted",
            "/etc/planted",
            os.path.join(home, "planted"),
            os.path.join(home, "work", "planted"),
            os.path.join(home, "artifacts", "planted"),
            os.path.join(task, "mine.txt"),
            f"/tmp/{name}",
        )
    }
    found["uid_map"] = open("/proc/self/uid_map").read().split()
    found["signal_server"] = attempt(lambda: os.kill(os.getppid(), 0))
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:  # its own user and mount namespace, to undo the sandbox: must fail
        code = 0
        if libc.unshare(0x10000000 | 0x00020000) == 0:
            code |= 1 if libc.umount2(task.encode(), 2) == 0 else 0
            code |= 2 if libc.umount2(data.path.encode(), 2) == 0 else 0
            code |= 4 if libc.umount2(b"/tmp", 2) == 0 else 0
            code |= 8 if libc.mount(None, data.path.encode(), None, 0x1020 | 6, None) == 0 else 0
            try:
                write(data.path)
                code |= 16
            except OSError:
                pass
        os._exit(code)
    found["undone"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    for via in ("127.0.0.1", "10.0.2.2"):
        try:
            socket.create_connection((via, port), timeout=3).close()
            found[via] = "connected"
        except OSError as exc:
            found[via] = type(exc).__name__
    with open("/proc/net/route") as f:
        found["routes"] = [line.split()[:3] for line in f.read().splitlines()[1:]]
    time.sleep(1.5)  # the other probe runs meanwhile, from the same server
    found["tmp"] = sorted(os.listdir("/tmp"))
    found["fds"] = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    peers = {}
    for other in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
        for what in ("environ", "mem", "root/"):
            try:
                if what == "mem":
                    open(f"/proc/{other}/mem", "rb").close()
                elif what == "root/":
                    os.listdir(f"/proc/{other}/root/")
                else:
                    open(f"/proc/{other}/environ", "rb").read()
                peers[f"{other}/{what}"] = "read"
            except OSError as exc:
                peers[f"{other}/{what}"] = errno.errorcode.get(exc.errno or 0, "?")
    found["peers"] = peers
    found["signals"] = {
        other: attempt(lambda other=other: os.kill(int(other), 0))
        for other in os.listdir("/proc")
        if other.isdigit() and int(other) != os.getpid()
    }
    return json.dumps(found)


@dsl.pipeline(name="sandfork-isolation")
def isolation(home: str, hidden: str, port: int):
    made = produce(text="input").set_caching_options(False)
    for name in ("one", "two"):
        isolation_probe(
            data=made.outputs["data"], home=home, hidden=hidden, port=port, name=name
        ).set_caching_options(False)


def _children_named(name: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if comm == name and int(rest.split()[1]) == os.getpid():
            found.append(int(pid))
    return found


def _probe_results(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(task.outputs["parameters"]["Output"])
        for name, task in result["tasks"].items()
        if name.startswith("isolation-probe")
    }


def _secrets(home: Path) -> list[str]:
    other_task = home / "work" / "other-run" / "task" / "1"
    other_task.mkdir(parents=True)
    (other_task / "secret.txt").write_text("another attempt's")
    other_input = home / "artifacts" / "other-run" / "task" / "data"
    other_input.parent.mkdir(parents=True)
    other_input.write_text("another run's")
    return [str(home / "pinnace.db"), str(other_task), str(other_input), str(home / "envs")]


def test_a_forked_sandboxed_step_sees_and_changes_only_its_own(
    tmp_path: Path, listener: int
) -> None:
    harness = Harness(tmp_path, forked=True, network=ISOLATED)
    identities: dict[str, dict[str, Any]] = {}
    host_ids: dict[str, list[str]] = {}

    def started(execution_id: str, identity: dict[str, Any]) -> None:
        identities[execution_id] = identity
        status = Path(f"/proc/{identity['pid']}/status").read_text()  # while it runs
        host_ids[execution_id] = [
            line.split()[1] for line in status.splitlines() if line.startswith(("Uid", "Gid"))
        ]

    harness.executor._on_process = started
    try:
        hidden = json.dumps(_secrets(harness.home))
        arguments = {"home": str(harness.home), "hidden": hidden, "port": listener}
        result = harness.run(isolation, arguments, namespace="alice")
        # each attempt's slirp4netns ended with it (the server itself has no network)
        assert _children_named("slirp4netns") == []
    finally:
        harness.close()
    assert result["state"] == "SUCCEEDED", {n: e.error for n, e in result["executions"].items()}
    probes = _probe_results(result)
    assert len(probes) == 2
    for name, found in probes.items():
        execution = next(e for e in result["executions"].values() if e.task_name == name)
        forked = execution.environment["forked"]
        assert forked["sandboxed"] is True
        # The record names host pids: the step's own pid is its server's namespace's number.
        assert forked["pid"] != found["pid"] and found["pid"] < 100
        assert identities[execution.execution_id]["pid"] == forked["pid"]
        assert identities[execution.execution_id]["start_ticks"]
        # nobody in there, as a fresh step; on the host, ids of this attempt alone
        own_id = str(STEP_ID_BASE + forked["pid"])
        assert found["uid"] == 65534 and found["uid_map"] == ["65534", own_id, "1"]
        assert host_ids[execution.execution_id] == [own_id, own_id]
        # it can signal no other process: not its server, not the other probe
        assert found["signal_server"] == "EPERM"
        assert set(found["signals"].values()) == {"EPERM"}, found["signals"]
        assert found["caps"] == ["0000000000000000"] * 5 and found["no_new_privs"] == "1"
        # what a fresh step sees there: the runtime, the parents of its folder and input
        assert found["home"] == ["artifacts", "runtime", "work"], found["home"]
        assert not any(found["hidden"].values()), found["hidden"]
        assert found["input"] == "inputinput"
        written = {p for p, outcome in found["writes"].items() if outcome == "ok"}
        own = next(p for p in found["writes"] if p.endswith("mine.txt"))
        tmp = next(p for p in found["writes"] if p.startswith("/tmp/") and "/" not in p[5:])
        assert written == {own, tmp}, found["writes"]
        assert found["undone"] == 0, "its own namespaces undid part of the sandbox"
        assert found["127.0.0.1"] != "connected" and found["10.0.2.2"] != "connected"
        assert ["tap0", "00000000", "0202000A"] in found["routes"]  # slirp4netns, outbound
        # no descriptor of its server or the executor; no other process of its server's
        # pid namespace (the server, the other probe) may be read or entered
        assert len(found["fds"]) <= 4, found["fds"]
        read = {k: v for k, v in found["peers"].items() if v == "read"}
        assert not read and found["peers"], found["peers"]
    one, two = (probes[n] for n in sorted(probes))
    probe_ids = {
        host_ids[e.execution_id][0]
        for e in result["executions"].values()
        if e.task_name.startswith("isolation-probe")
    }
    assert len(probe_ids) == 2 and "65534" not in probe_ids  # side by side, each its own
    # each its own /tmp, while both ran side by side from one server
    assert [n for n in one["tmp"] if n in ("one", "two")] == ["one"]
    assert [n for n in two["tmp"] if n in ("one", "two")] == ["two"]
    servers = {e.environment["forked"]["server_pid"] for e in result["executions"].values()}
    assert len(servers) == 1
    # the input is whole, and nothing was planted
    assert not (harness.home / "planted").exists()


@dsl.component
def linger(seconds: int) -> int:
    import subprocess
    import time

    subprocess.Popen(["sleep", "987653"], start_new_session=True)  # detached: must die too
    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="sandfork-linger")
def lingering(seconds: int = 60):
    linger(seconds=seconds).set_caching_options(False)


def _sleepers() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00987653\x00":
                    found.append(int(pid))
            except OSError:
                pass
    return found


def test_a_canceled_forked_step_dies_with_its_whole_tree(forked: Harness) -> None:
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(forked.run(lingering)))
    thread.start()
    deadline = time.monotonic() + 60
    while not _sleepers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sleepers(), "the step never started its detached child"
    metadata = forked.driver.metadata
    running = [e for r in metadata.list_runs() for e in metadata.list_executions(r.run_id)]
    forked.executor.cancel(running[0].execution_id, grace=0)
    thread.join(timeout=60)
    assert outcome["state"] in ("FAILED", "CANCELED")
    (execution,) = outcome["executions"].values()
    assert execution.environment["forked"]["sandboxed"] is True
    deadline = time.monotonic() + 10
    while _sleepers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _sleepers() == []


@dsl.component
def hog(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    return len(block)


@dsl.pipeline(name="sandfork-hog")
def hogging(megabytes: int = 400):
    hog(megabytes=megabytes).set_caching_options(False).set_memory_limit("100M")


def test_the_memory_limit_holds_for_a_forked_step(forked: Harness) -> None:
    if forked.executor.supervision == "subreaper":
        pytest.skip("needs cgroups")
    result = forked.run(hogging)
    assert result["state"] == "FAILED"
    (execution,) = result["executions"].values()
    assert execution.environment["forked"]["sandboxed"] is True
    assert "memory limit" in (execution.error or ""), execution.error


@dsl.component
def tamper() -> str:
    import os
    import string
    import sys
    import types

    string.ascii_letters = "patched"
    os.environ["SANDFORK_LEAK"] = "1"
    sys.modules["sandfork_planted"] = types.ModuleType("sandfork_planted")
    return "tampered"


@dsl.component
def check_clean(after: str) -> str:
    import json
    import os
    import string
    import sys

    return json.dumps(
        {
            "letters": string.ascii_letters[:3],
            "leak": os.environ.get("SANDFORK_LEAK"),
            "planted": "sandfork_planted" in sys.modules,
        }
    )


@dsl.pipeline(name="sandfork-tamper")
def tampering():
    done = tamper().set_caching_options(False)
    check_clean(after=done.output).set_caching_options(False)


def test_what_a_forked_step_changes_in_its_modules_is_not_seen_by_the_next(
    forked: Harness,
) -> None:
    result = forked.run(tampering)
    assert result["state"] == "SUCCEEDED"
    servers = {e.environment["forked"]["server_pid"] for e in result["executions"].values()}
    assert len(servers) == 1  # both from one server
    found = json.loads(result["tasks"]["check-clean"].outputs["parameters"]["Output"])
    assert found == {"letters": "abc", "leak": None, "planted": False}


def test_an_owner_never_forks_from_another_owners_server(forked: Harness) -> None:
    servers = {}
    for owner in ("alice", "bob", "alice"):
        result = forked.run(tampering, namespace=owner)
        assert result["state"] == "SUCCEEDED"
        pids = {e.environment["forked"]["server_pid"] for e in result["executions"].values()}
        assert len(pids) == 1
        servers.setdefault(owner, set()).update(pids)
    assert len(servers["alice"]) == 1  # alice's second run: her server again
    assert servers["alice"].isdisjoint(servers["bob"])


def test_the_servers_sandbox_shows_nothing_of_the_home(forked: Harness) -> None:
    _secrets(forked.home)
    result = forked.run(tampering)
    assert result["state"] == "SUCCEEDED"
    (pid,) = {e.environment["forked"]["server_pid"] for e in result["executions"].values()}
    root = Path(f"/proc/{pid}/root")
    seen = root / str(forked.home).lstrip("/")
    assert sorted(os.listdir(seen)) == ["runtime"]  # an empty base, and the runtime
    assert not (seen / "pinnace.db").exists()
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    assert status["Uid"].split()[0] == "65534" and status["CapEff"].strip() == "0" * 16
    assert status["NoNewPrivs"].strip() == "1"
    assert os.stat(f"/proc/{pid}/environ").st_uid == 0  # not dumpable: its tasks cannot read it


def test_a_forked_step_without_network_has_no_route(tmp_path: Path, listener: int) -> None:
    harness = Harness(tmp_path, forked=True, network=NO_NETWORK)
    try:
        hidden = json.dumps([])
        arguments = {"home": str(harness.home), "hidden": hidden, "port": listener}
        result = harness.run(isolation, arguments)
    finally:
        harness.close()
    assert result["state"] == "SUCCEEDED"
    for found in _probe_results(result).values():
        assert found["routes"] == [] and found["127.0.0.1"] != "connected"


def test_a_host_network_forked_step_shares_this_machines_network(
    tmp_path: Path, listener: int
) -> None:
    """As a fresh step with step_network=host (the unsafe choice): the probe can tell."""
    harness = Harness(tmp_path, forked=True, network=HOST_NETWORK)
    try:
        arguments = {"home": str(harness.home), "hidden": "[]", "port": listener}
        result = harness.run(isolation, arguments)
    finally:
        harness.close()
    assert result["state"] == "SUCCEEDED"
    for name, found in _probe_results(result).items():
        assert result["executions"][name].environment["forked"]["sandboxed"] is True
        assert found["127.0.0.1"] == "connected"


def test_a_child_that_cannot_enter_its_sandbox_runs_nothing_and_the_attempt_runs_fresh(
    forked: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pinnace.executors import _enclosure

    def refuse(path: Path, *, read_only: bool, idmap: int | None = None) -> int:
        raise _enclosure.EnclosureError(f"open_tree {path}: refused for the test")

    monkeypatch.setattr(_enclosure, "clone_tree", refuse)
    result = forked.run(tampering)
    assert result["state"] == "SUCCEEDED"  # both steps ran, fresh, in their own sandboxes
    first, second = (result["executions"][n] for n in ("tamper", "check-clean"))
    assert "forked" not in first.environment and "forked" not in second.environment
    assert "refused for the test" in first.environment["fresh"]
    assert "refused for the test" in second.environment["fresh"]  # the server is given up
    log = Path(result["tasks"]["tamper"].log_path).read_text()
    assert "the step's sandbox could not be set up" in log  # the child said why, and stopped
    assert log.count("tampered") <= 1  # the task itself ran once: fresh


@dsl.component
def zen() -> str:
    import importlib

    # Not an import statement: the module is learned from the child, not from the program.
    importlib.import_module("this")  # prints the Zen of Python when imported
    return "imported"


@dsl.component
def plant() -> str:
    import importlib.machinery
    import sys
    import types

    # A task can make any name look imported; its server would import it for later tasks.
    for name in ("unittest.__main__", "venv.__main__", "__hello__"):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, origin="/usr/lib/x.py")
        sys.modules[name] = module
    return "planted"


@dsl.component
def plain() -> str:
    print("plain step ran")
    return "plain"


@dsl.pipeline(name="sandfork-learning")
def teaching(lesson: str = "zen"):
    with dsl.If(lesson == "zen"):
        zen().set_caching_options(False)
    with dsl.Else():
        plant().set_caching_options(False)


@dsl.pipeline(name="sandfork-plain")
def plain_run():
    plain().set_caching_options(False)


@pytest.mark.parametrize("lesson", ["zen", "plant"])
def test_what_an_earlier_step_imported_neither_prints_nor_runs_in_a_later_ones_log(
    forked: Harness, lesson: str
) -> None:
    """Review 2: learned imports are chosen by tasks. A step's `import this` put the Zen of
    Python at the top of every later step's log; a step planting `unittest.__main__` or
    `venv.__main__` in sys.modules made its owner's server run those programs."""
    assert forked.run(teaching, {"lesson": lesson}, namespace="alice")["state"] == "SUCCEEDED"
    for _ in range(2):  # the learned imports are preloaded before a later fork
        later = forked.run(plain_run, namespace="alice")
        assert later["state"] == "SUCCEEDED"
        (execution,) = later["executions"].values()
        assert execution.environment.get("forked"), execution.environment
        lines = _task_lines(later["tasks"]["plain"].log_path)
        assert "plain step ran" in lines
        log = "\n".join(lines)
        assert "Beautiful is better than ugly" not in log
        assert "unittest" not in log and "usage:" not in log and "Hello" not in log
