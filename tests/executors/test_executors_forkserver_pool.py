"""The fork-server pool: bounded count, idle eviction, restart after a crash."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pinnace.executors.forkserver import ServerSpec
from pinnace.executors.forkserver_pool import ForkServerPool, _priority_restorable
from pinnace.executors.runtime_copy import materialize_runtime


def spec(runtime: Path, key: str) -> ServerSpec:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(runtime), "KEY": key}
    return ServerSpec(key=key, environment="env", python=sys.executable, env=env)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return bool(predicate())


def test_a_new_server_evicts_the_least_recently_used_idle_one(tmp_path):
    runtime = materialize_runtime(tmp_path)
    pool = ForkServerPool(max_servers=1, scratch=tmp_path / "scratch")
    try:
        first = pool.acquire(spec(runtime, "a"))
        assert first is not None
        second = pool.acquire(spec(runtime, "b"))
        assert second is not None and second.pid != first.pid
        assert wait_until(lambda: not alive(first.pid))
        assert [s["pid"] for s in pool.stats()] == [second.pid]
    finally:
        pool.close()
    assert wait_until(lambda: not alive(second.pid))


def test_idle_servers_end_and_start_again_when_needed(tmp_path):
    runtime = materialize_runtime(tmp_path)
    pool = ForkServerPool(idle_seconds=0.5, scratch=tmp_path / "scratch")
    try:
        server = pool.acquire(spec(runtime, "a"))
        assert server is not None
        assert wait_until(lambda: not alive(server.pid))
        assert pool.stats() == []
        again = pool.acquire(spec(runtime, "a"))
        assert again is not None and again.pid != server.pid
    finally:
        pool.close()


def test_a_crashed_server_is_started_again(tmp_path):
    runtime = materialize_runtime(tmp_path)
    pool = ForkServerPool(scratch=tmp_path / "scratch")
    try:
        server = pool.acquire(spec(runtime, "a"))
        assert server is not None
        os.kill(server.pid, signal.SIGKILL)
        assert wait_until(lambda: not server.alive)
        again = pool.acquire(spec(runtime, "a"))
        assert again is not None and again.pid != server.pid
    finally:
        pool.close()


def test_memory_of_each_server_is_reported(tmp_path):
    runtime = materialize_runtime(tmp_path)
    pool = ForkServerPool(scratch=tmp_path / "scratch")
    try:
        assert pool.acquire(spec(runtime, "a")) is not None
        (stats,) = pool.stats()
        assert stats["rss"] > 1_000_000 and 0 < stats["pss"] <= stats["rss"]
    finally:
        pool.close()


def test_close_ends_every_server_at_once_and_kills_those_that_do_not_exit(
    tmp_path, monkeypatch
):
    # Stopped servers cannot exit when told: each must be killed once the close's time is
    # up. Told and waited for one by one, three of them would take three times that.
    monkeypatch.setattr("pinnace.executors.forkserver_pool.CLOSE_SECONDS", 1.0)
    runtime = materialize_runtime(tmp_path)
    pool = ForkServerPool(scratch=tmp_path / "scratch")
    servers = [pool.acquire(spec(runtime, key)) for key in "abc"]
    pids = [server.pid for server in servers if server is not None]
    assert len(pids) == 3
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    pool.close()
    took = time.monotonic() - started
    assert not any(alive(pid) for pid in pids)  # none outlives the pool
    assert 1.0 <= took < 2.0, took


def slow_imports(
    tmp_path: Path, runtime: Path, names: str, seconds: dict[str, float] | None = None
) -> tuple[dict[str, ServerSpec], Path]:
    """A server spec per name whose environment imports a module that logs its start and end
    of import (half a second apart, or `seconds[name]`) to the returned log, and its CPU
    priority at both to priority.log beside it."""
    log, modules = tmp_path / "imports.log", tmp_path / "modules"
    priority = tmp_path / "priority.log"
    modules.mkdir()
    specs = {}
    for name in names:
        (modules / f"slow_{name}.py").write_text(
            "import os, time\n"
            f"open({str(priority)!r}, 'a').write(f'{name} start {{os.getpriority(0, 0)}}\\n')\n"
            f"open({str(log)!r}, 'a').write('start {name}\\n')\n"
            f"time.sleep({(seconds or {}).get(name, 0.5)})\n"
            f"open({str(priority)!r}, 'a').write(f'{name} end {{os.getpriority(0, 0)}}\\n')\n"
            f"open({str(log)!r}, 'a').write('end {name}\\n')\n"
        )
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{runtime}:{modules}"}
        specs[name] = ServerSpec(key=name, environment=name, python=sys.executable, env=env)
    return specs, log


def ask_ahead(pool: ForkServerPool, specs: dict[str, ServerSpec]) -> list[object]:
    """Ask for every server ahead (`wait=False`), in order, each importing its slow module;
    what each `acquire` returned."""
    answers: list[object] = []
    for name, one in specs.items():
        pool.learn(one.environment, [(f"slow_{name}", [])])
        answers.append(pool.acquire(one, wait=False))
    return answers


def test_servers_asked_for_ahead_start_in_order_at_most_max_importing_at_once(tmp_path):
    runtime = materialize_runtime(tmp_path)
    specs, log = slow_imports(tmp_path, runtime, "abc")
    pool = ForkServerPool(scratch=tmp_path / "scratch", max_importing=1)
    try:
        # started (or queued) in the background
        assert ask_ahead(pool, specs) == [None, None, None]
        assert wait_until(lambda: len(pool.stats()) == 3, timeout=30)
    finally:
        pool.close()
    assert log.read_text().split("\n")[:-1] == [
        "start a",
        "end a",
        "start b",
        "end b",
        "start c",
        "end c",
    ]


def test_a_queued_server_a_task_waits_for_jumps_the_queue(tmp_path):
    runtime = materialize_runtime(tmp_path)
    specs, log = slow_imports(tmp_path, runtime, "abc")
    pool = ForkServerPool(scratch=tmp_path / "scratch", max_importing=1)
    try:
        ask_ahead(pool, specs)
        urgent = pool.acquire(specs["c"])  # a task needs c now: it starts beside a, before b
        assert urgent is not None and urgent.report.get("modules")
        events = log.read_text().split("\n")
        # c did not wait for a (max_importing 1), and b still waits for its turn.
        assert "start a" in events and "end c" in events and "start b" not in events
        assert wait_until(lambda: len(pool.stats()) == 3, timeout=30)
    finally:
        pool.close()
    events = log.read_text().split("\n")
    assert events.index("start b") > min(events.index("end a"), events.index("end c"))


def priorities(tmp_path: Path) -> dict[str, int]:
    path = tmp_path / "priority.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return {f"{name} {when}": int(value) for name, when, value in map(str.split, lines)}


needs_renice = pytest.mark.skipif(
    not _priority_restorable(), reason="this process may not raise a priority back"
)


@needs_renice
def test_a_server_started_ahead_imports_at_a_lower_priority_and_forks_at_the_normal_one(
    tmp_path,
):
    runtime = materialize_runtime(tmp_path)
    # b and c import for longer: a imports behind them (niced) until it is done
    specs, _ = slow_imports(tmp_path, runtime, "abc", {"b": 1.5, "c": 1.5})
    base = os.getpriority(os.PRIO_PROCESS, 0)
    pool = ForkServerPool(scratch=tmp_path / "scratch", max_importing=3)
    try:
        for name, one in specs.items():
            pool.learn(one.environment, [(f"slow_{name}", [])])
        assert pool.acquire(specs["a"], wait=False) is None  # ahead: niced
        assert pool.acquire(specs["c"], wait=False, soon=True) is None  # ahead, needed next
        urgent = pool.acquire(specs["b"])  # needed now: never niced
        assert urgent is not None
        assert wait_until(lambda: len(pool.stats()) == 3)
        ahead = pool.acquire(specs["a"])
        assert ahead is not None
        seen = priorities(tmp_path)
        assert seen["a start"] == seen["a end"] == min(19, base + 10)
        assert seen["b start"] == seen["b end"] == seen["c start"] == seen["c end"] == base
        # Its imports done, it has the normal priority back: its children inherit that.
        assert os.getpriority(os.PRIO_PROCESS, ahead.pid) == base
        assert os.getpriority(os.PRIO_PROCESS, urgent.pid) == base
    finally:
        pool.close()


@needs_renice
def test_a_server_importing_ahead_gets_the_normal_priority_when_a_task_waits(tmp_path):
    runtime = materialize_runtime(tmp_path)
    specs, _ = slow_imports(tmp_path, runtime, "a")
    base = os.getpriority(os.PRIO_PROCESS, 0)
    pool = ForkServerPool(scratch=tmp_path / "scratch")
    try:
        pool.learn("a", [("slow_a", [])])
        pool.acquire(specs["a"], wait=False)
        assert wait_until(lambda: "a start" in priorities(tmp_path))  # importing, niced
        assert pool.acquire(specs["a"]) is not None  # a task waits for it now
    finally:
        pool.close()
    seen = priorities(tmp_path)
    assert seen["a start"] == min(19, base + 10) and seen["a end"] == base


@needs_renice
def test_a_server_importing_ahead_gets_the_normal_priority_once_none_before_it_imports(
    tmp_path,
):
    # The book's last server: it imports niced while the one needed before it imports, then
    # at the normal priority (at a lower one it loses the CPU to any other program).
    runtime = materialize_runtime(tmp_path)
    specs, _ = slow_imports(tmp_path, runtime, "ab", {"a": 0.3, "b": 1.5})
    base = os.getpriority(os.PRIO_PROCESS, 0)
    pool = ForkServerPool(scratch=tmp_path / "scratch", max_importing=2)
    try:
        for name, one in specs.items():
            pool.learn(one.environment, [(f"slow_{name}", [])])
        assert pool.acquire(specs["a"], wait=False, soon=True) is None  # needed next
        assert pool.acquire(specs["b"], wait=False) is None  # for a later task: niced
        assert wait_until(lambda: len(pool.stats()) == 2)
        seen = priorities(tmp_path)
        assert seen["a start"] == seen["a end"] == base
        assert seen["b start"] == min(19, base + 10)
        assert seen["b end"] == base  # a was done: no task had to wait for b
    finally:
        pool.close()


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork servers need os.fork")


@needs_renice
def test_a_task_forked_from_a_server_started_ahead_runs_at_the_normal_priority(tmp_path):
    """The server may fork a spare child while still niced (before the pool restores its
    priority): that spare must not be the one a task runs in."""
    runtime = materialize_runtime(tmp_path)
    specs, _ = slow_imports(tmp_path, runtime, "a")
    base = os.getpriority(os.PRIO_PROCESS, 0)
    script = tmp_path / "task.py"
    out = tmp_path / "task-priority.txt"
    script.write_text(f"import os\nopen({str(out)!r}, 'w').write(str(os.getpriority(0, 0)))\n")
    pool = ForkServerPool(scratch=tmp_path / "scratch", max_importing=3)
    try:
        pool.learn("a", [("slow_a", [])])
        assert pool.acquire(specs["a"], wait=False) is None  # ahead: imports niced
        assert wait_until(lambda: len(pool.stats()) == 1)
        server = pool.acquire(specs["a"])
        assert server is not None
        time.sleep(0.3)  # idle: it forks its spare (then niced or not)
        with open(tmp_path / "task.log", "wb") as log:
            child = server.fork(
                "e1",
                kind="script",
                target=str(script),
                args=[],
                cwd=str(tmp_path),
                env={"PATH": os.environ.get("PATH", "")},
                stdout=log.fileno(),
                supervision={},
            )
        assert child.wait(timeout=30) == 0, (tmp_path / "task.log").read_text()
    finally:
        pool.close()
    assert int(out.read_text()) == base


def test_a_childs_import_listing_is_read_as_untrusted(tmp_path: Path) -> None:
    """A sandboxed child writes it in its own task folder: the task may put anything there."""
    pool = ForkServerPool(scratch=tmp_path / "scratch", memory=tmp_path / "learned")
    try:
        listing = tmp_path / "listing.json"
        entries = [["json", []], ["os.path", []], ["../evil", []], ["a b", []], [7, []], "x"]
        listing.write_text(json.dumps(entries))
        pool.note_imports("env", listing)
        assert pool.learned("env") == [["json", []], ["os.path", []]]
        assert not listing.exists()
        secret = tmp_path / "secret.json"
        secret.write_text(json.dumps([["leaked", []]]))
        listing.symlink_to(secret)  # a link: not followed
        pool.note_imports("env2", listing)
        os.mkfifo(listing)  # a FIFO: no hang, nothing read
        pool.note_imports("env2", listing)
        listing.write_text(" " * (2 << 20) + "[]")  # too large
        pool.note_imports("env2", listing)
        assert pool.learned("env2") == []
    finally:
        pool.close()


def test_a_task_cannot_have_its_server_import_programs_or_modules_that_act(
    tmp_path: Path,
) -> None:
    """Review 2: `venv.__main__`, `unittest.__main__` run programs when imported, `this` and
    `__hello__` print; a listing (or a remembered list written before) naming them is
    refused name by name, plain modules are kept."""
    pool = ForkServerPool(scratch=tmp_path / "scratch", memory=tmp_path / "learned")
    try:
        planted = ["venv.__main__", "unittest.__main__", "__hello__", "this", "idlelib.idle"]
        kept = ["json", "sklearn.linear_model._logistic"]
        listing = tmp_path / "listing.json"
        listing.write_text(json.dumps([[n, []] for n in [*planted, *kept]]))
        pool.note_imports("env", listing)
        assert pool.learned("env") == [[n, []] for n in kept]
    finally:
        pool.close()
    again = ForkServerPool(scratch=tmp_path / "scratch2", memory=tmp_path / "learned")
    try:
        memory = next((tmp_path / "learned").glob("*.json"))
        memory.write_text(json.dumps({"modules": [*planted, *kept]}))
        assert again.learned("env") == [[n, []] for n in kept]
    finally:
        again.close()
