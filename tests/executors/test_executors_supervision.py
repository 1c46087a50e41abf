"""Supervised attempts: whole trees contained, limited and killed, in every containment mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pinnace.executors import _cgroups, _proctree, _supervision
from pinnace.executors._janitor import Janitor
from pinnace.executors._supervision import (
    SUBREAPER,
    CoreAllocator,
    Limits,
    Supervisor,
    kill_leftover,
)

MODES = [SUBREAPER]
if _cgroups.detect(_cgroups.CGROUP1) is not None:
    MODES.append(_cgroups.CGROUP1)
if _cgroups.detect(_cgroups.CGROUP2) is not None:
    MODES.append(_cgroups.CGROUP2)

#: a task that starts a grandchild in its own session (as a daemon would), records its pid
DETACHING = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    open(sys.argv[1], "w").write(str(child.pid))
    time.sleep(float(sys.argv[2]))
    """
)


def wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def gone(pid: int, ticks: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _proctree.is_running(pid, ticks):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(params=MODES)
def supervisor(request):
    sup = Supervisor(request.param)
    assert sup.mode == request.param
    yield sup
    sup.close()


def start(attempt, argv):
    process = subprocess.Popen(attempt.command(argv), env={**os.environ, **attempt.env()})
    attempt.attach(process.pid)
    return process


def test_a_detached_grandchild_dies_when_the_attempt_succeeds(supervisor, tmp_path):
    attempt = supervisor.contain("detach-ok")
    process = start(attempt, [sys.executable, "-c", DETACHING, str(tmp_path / "pid"), "0.2"])
    grandchild = int(wait_for(tmp_path / "pid"))
    ticks = _proctree.start_ticks(grandchild)
    assert grandchild in attempt.pids()
    assert process.wait(timeout=20) == 0
    assert _proctree.is_running(grandchild, ticks)  # it outlived its parent...
    attempt.close()
    assert gone(grandchild, ticks)  # ...but not the attempt


def test_a_memory_hog_in_a_detached_child_fails_the_attempt(supervisor, tmp_path):
    hog = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'x = bytearray(400_000_000); "
        "import time; time.sleep(30)'], start_new_session=True)\n"
        "time.sleep(30)\n"
    )
    attempt = supervisor.contain("hog", Limits(memory_bytes=100_000_000))
    process = start(attempt, [sys.executable, "-c", hog])
    assert process.wait(timeout=30) != 0  # the whole tree was killed, not just the hog
    attempt.close()
    assert attempt.memory_exceeded
    assert attempt.peak_bytes >= 90_000_000


def test_a_survivor_of_a_crashed_driver_is_killed_by_identity(supervisor, tmp_path):
    attempt = supervisor.contain("crashed")
    process = start(attempt, [sys.executable, "-c", DETACHING, str(tmp_path / "pid"), "300"])
    grandchild = int(wait_for(tmp_path / "pid"))
    identity = json.loads(json.dumps(attempt.identity()))  # as the store keeps it
    assert identity["pid"] == process.pid and identity["start_ticks"]
    # Another process reusing the recorded pid is spared: the start time differs.
    assert kill_leftover({**identity, "start_ticks": "1", "groups": [], "marker": None}) == 0
    assert process.poll() is None
    assert kill_leftover(identity) >= 2
    assert process.wait(timeout=5) != 0
    assert gone(grandchild, "")
    attempt.close()


def test_a_cpu_limit_caps_cores_and_spreads_attempts(supervisor):
    cores = sorted(os.sched_getaffinity(0))
    first = supervisor.contain("cpu-1", Limits(cpu_limit=1))
    second = supervisor.contain("cpu-2", Limits(cpu_limit=0.5))
    try:
        assert len(first.cores) == 1 and len(second.cores) == 1
        if len(cores) > 1:
            assert first.cores != second.cores
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("mode", [m for m in MODES if m != SUBREAPER])
def test_with_a_janitor_the_tree_dies_at_close_and_the_group_goes_after(mode, tmp_path):
    janitor = Janitor()
    sup = Supervisor(mode, janitor=janitor)
    try:
        attempt = sup.contain("janitor")
        process = start(attempt, [sys.executable, "-c", DETACHING, str(tmp_path / "pid"), "0"])
        grandchild = int(wait_for(tmp_path / "pid"))
        ticks = _proctree.start_ticks(grandchild)
        assert process.wait(timeout=20) == 0
        groups = [Path(g) for g in attempt.identity()["groups"]]
        attempt.close()
        assert not _proctree.is_running(grandchild, ticks)  # killed before close returned
        janitor.flush()
        assert groups and not any(g.exists() for g in groups)
    finally:
        sup.close()
        janitor.close()


@pytest.mark.parametrize("mode", [m for m in MODES if m != SUBREAPER])
def test_only_a_cpu_limited_attempt_has_a_cpu_group(mode):
    sup = Supervisor(mode)
    try:
        plain = sup.contain("plain")
        limited = sup.contain("limited", Limits(cpu_limit=1))
        assert len(plain.child_spec()["procs"]) == 1  # the tree's group alone
        expected = 2 if "cpu" in sup.layout.own else 1  # v1 with a cpu hierarchy: both
        assert len(limited.child_spec()["procs"]) == expected
        plain.close()
        limited.close()
    finally:
        sup.close()


def test_the_core_allocator_prefers_idle_cores():
    cores = CoreAllocator([0, 1, 2, 3])
    assert cores.take(2) == [0, 1]
    assert cores.take(1) == [2]
    assert cores.take(2) == [0, 3]
    cores.give_back([0, 1])
    assert cores.take(1) == [1]


def test_a_forked_child_enters_its_attempt_with_the_runtime_function(supervisor, tmp_path):
    attempt = supervisor.contain("forked")
    confine_dir = Path(__file__).resolve().parents[2] / "src" / "pinnace" / "runtime"
    program = textwrap.dedent(
        f"""
        import json, os, sys, time
        sys.path.insert(0, {str(confine_dir)!r})
        import confine
        pid = os.fork()
        if pid == 0:
            spec = json.loads(sys.argv[1])
            spec["parent"] = os.getppid()
            confine.enter(spec)
            open(sys.argv[2], "w").write(str(os.getpid()))
            time.sleep(300)
            os._exit(0)
        time.sleep(300)
        """
    )
    # The "fork server" itself is outside the attempt; only its child enters.
    server = subprocess.Popen(
        [sys.executable, "-c", program, json.dumps(attempt.child_spec()), str(tmp_path / "pid")]
    )
    try:
        child = int(wait_for(tmp_path / "pid"))
        if attempt.uses_cgroups:
            assert child in attempt.pids()
        attempt.attach(child)  # the fork server tells the executor its child's pid
        attempt.close()
        assert gone(child, "")
        assert server.poll() is None  # the fork server lives on
    finally:
        server.kill()
        server.wait()


DRIVER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from pinnace.executors._supervision import Supervisor
    sup = Supervisor(sys.argv[1])
    attempt = sup.contain("orphan")
    task = subprocess.Popen(attempt.command([sys.executable, "-c", sys.argv[2],
                            sys.argv[3], "300"]), env={**os.environ, **attempt.env()})
    attempt.attach(task.pid)
    open(sys.argv[4], "w").write(str(task.pid))
    time.sleep(300)
    """
)


@pytest.mark.parametrize("mode", MODES)
def test_task_processes_die_with_their_driver(mode, tmp_path):
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DRIVER,
            mode,
            DETACHING,
            str(tmp_path / "grandchild"),
            str(tmp_path / "task"),
        ]
    )
    task = int(wait_for(tmp_path / "task"))
    grandchild = int(wait_for(tmp_path / "grandchild"))
    ticks = _proctree.start_ticks(grandchild)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert gone(task, "")  # PR_SET_PDEATHSIG
    assert gone(grandchild, ticks)  # the supervisor's watchdog saw its driver die


@pytest.mark.parametrize("mode", [m for m in MODES if m != SUBREAPER])
def test_closing_one_supervisor_leaves_another_of_the_process_whole(mode, tmp_path):
    """Two executors in one process (two `pinnace.run` in threads, a Ray worker's GPU sets):
    one closing kills only its own attempts and keeps the other's groups."""
    first, second = Supervisor(mode), Supervisor(mode)
    try:
        running = second.contain("running")
        process = start(running, [sys.executable, "-c", "import time; time.sleep(60)"])
        first.contain("ended").close()
        first.close()
        assert process.poll() is None  # the other supervisor's attempt runs on
        later = second.contain("later")  # and its next attempts start in its groups
        assert start(later, [sys.executable, "-c", "pass"]).wait(timeout=20) == 0
        later.close()
        running.close()
        assert process.wait(timeout=20) != 0
    finally:
        first.close()
        second.close()


def test_closing_does_not_wait_for_the_watchdog_and_it_is_reaped(tmp_path, monkeypatch):
    """A run's end does not wait for its watchdog to exit (it has nothing left to kill);
    the watchdog still exits and leaves no zombie behind."""
    pid_file = tmp_path / "watchdog.pid"
    slow = tmp_path / "slow_watchdog.py"
    slow.write_text(
        "import os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "sys.stdin.read()\n"
        "time.sleep(2)\n"
    )
    monkeypatch.setattr(_supervision, "_WATCHDOG", slow)
    supervisor = Supervisor(SUBREAPER)
    supervisor.contain("quick").close()
    watchdog = int(wait_for(pid_file))
    started = time.monotonic()
    supervisor.close()
    assert time.monotonic() - started < 1.0
    assert _proctree.is_running(watchdog, "")  # still in its slow exit

    def state() -> str | None:
        try:
            return Path(f"/proc/{watchdog}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None  # exited and reaped

    deadline = time.monotonic() + 10
    while state() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state() is None
