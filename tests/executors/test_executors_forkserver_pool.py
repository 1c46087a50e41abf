"""The fork-server pool: bounded count, idle eviction, restart after a crash."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from pinnace.executors.forkserver import ServerSpec
from pinnace.executors.forkserver_pool import ForkServerPool
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


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork servers need os.fork")
