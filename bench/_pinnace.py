"""Timing Pinnace itself: the `pinnace run` CLI as a user runs it, and the engine via the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def cli_env(home: Path, fork_servers: bool = True) -> dict[str, str]:
    """The environment of a `pinnace` subprocess: the bench's home, nothing from ~/.pinnace.

    Bytecode caching is on, as for an installed package: with PYTHONDONTWRITEBYTECODE set
    (some shells and containers set it) each CLI start compiles ~120 Pinnace modules again.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PINNACE_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PINNACE_HOME"] = str(home)
    if not fork_servers:
        env["PINNACE_FORK_SERVERS"] = "0"
    return env


def time_cli(
    home: Path,
    pipeline: Path,
    *,
    pipeline_name: str | None = None,
    parallelism: int | None = None,
    cwd: Path,
    fork_servers: bool = True,
) -> dict[str, Any]:
    """Wall seconds of `pinnace run --no-cache --json PIPELINE` in a fresh process."""
    pinnace = Path(sys.executable).with_name("pinnace")
    argv = [str(pinnace), "run", "--no-cache", "--json", str(pipeline)]
    if pipeline_name:
        argv += ["--pipeline", pipeline_name]
    if parallelism:
        argv += ["--parallelism", str(parallelism)]
    started = time.perf_counter()
    env = cli_env(home, fork_servers)
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    document = _last_json(done.stdout)
    if done.returncode != 0 or document.get("state") != "SUCCEEDED":
        raise SystemExit(
            f"bench: `{' '.join(argv)}` failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return {"wall": wall, "run_id": document["run_id"]}


def time_engine(
    home: Path, pipeline: Any, *, parallelism: int | None = None, fork_servers: bool = True
) -> dict[str, Any]:
    """Seconds of `pinnace.run(..., cache=False)` in this (already warm) process."""
    from pinnace.api import run
    from pinnace.settings import Settings

    settings = Settings.load(env={}, home=home, fork_servers=fork_servers)
    started = time.perf_counter()
    result = run(pipeline, cache=False, parallelism=parallelism, settings=settings)
    wall = time.perf_counter() - started
    if not result.succeeded:
        failed = [t.name for t in result.tasks if t.state != "SUCCEEDED"]
        raise SystemExit(
            f"bench: run {result.run_id} {result.state}: {result.error} "
            f"(tasks not succeeded: {failed}; logs under {home / 'logs'})"
        )
    return {"wall": wall, "run_id": result.run_id}


def task_timing(home: Path, run_id: str, wall: float) -> dict[str, float]:
    """Concurrency of a run from the metadata store's task started_at/finished_at."""
    from pinnace.backend import open_backend
    from pinnace.settings import Settings

    backend = open_backend(Settings.load(env={}, home=home), settle=False)
    try:
        tasks = backend.metadata.list_tasks(run_id)
    finally:
        backend.close()
    spans = [
        (t.started_at.timestamp(), t.finished_at.timestamp())
        for t in tasks
        if t.started_at is not None and t.finished_at is not None
    ]
    if not spans:
        return {"tasks": 0, "task_seconds": 0.0, "concurrency": 0.0, "peak": 0}
    busy = sum(end - start for start, end in spans)
    return {
        "tasks": len(spans),
        "task_seconds": busy,
        "mean_task_seconds": busy / len(spans),
        "concurrency": busy / wall,
        "span_concurrency": busy / (max(e for _, e in spans) - min(s for s, _ in spans)),
        "peak": _peak(spans),
    }


def _peak(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _last_json(stdout: str) -> dict[str, Any]:
    start = stdout.rfind("\n{")
    text = stdout[start + 1 :] if start >= 0 else stdout
    try:
        return json.loads(text)
    except ValueError:
        return {}
