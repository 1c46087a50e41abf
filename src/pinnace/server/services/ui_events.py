"""Server-Sent Event streams for the dashboard: a run's task states, a task's log lines.

Both poll the metadata store (runs may be driven by another process, such as the CLI, so
in-process engine events would miss them), send only what changed, a comment now and then
so proxies keep the connection open, and end when the run or task is finished or the
client went away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from ...errors import NotFoundError
from ..context import ServerContext
from .accounts import Principal
from .ui import find_task, run_spec
from .ui_files import log_file, log_tail, read_log_chunks
from .ui_graph import task_node

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 10.0

Disconnected = Callable[[], Awaitable[bool]]


def sse(event: str, data: Any) -> str:
    """One SSE message; JSON data on one line (json.dumps never writes raw newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def run_events(
    ctx: ServerContext,
    principal: Principal,
    run_id: str,
    disconnected: Disconnected,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """`run` {state, error, finished_at} and `tasks` {tasks: [nodes]} events; `end` last.

    The first `tasks` event carries every task; later ones only those that changed (new
    ones included: a client that sees an unknown id reloads the graph).
    """
    spec = run_spec(ctx, principal, run_id)  # 404 before the stream starts; it never changes
    sent: dict[str, tuple[Any, ...]] = {}
    run_sent: tuple[Any, ...] | None = None
    last_write = time.monotonic()
    while True:
        try:
            run, tasks = await run_in_threadpool(_snapshot, ctx, run_id)
        except NotFoundError:  # deleted while watched
            yield sse("end", {"state": None})
            return
        changed = []
        for task in tasks:
            node = task_node(spec, task)
            key = (node["state"], node["started_at"], node["finished_at"])
            running = task.state.value == "RUNNING"
            if sent.get(task.task_name) != key or running:
                changed.append(node)  # running tasks: their duration grows
                sent[task.task_name] = key
        run_now = (run.state.value, run.error, run.finished_at)
        if run_now != run_sent:
            run_sent = run_now
            yield sse("run", {"run_id": run_id, "state": run.state.value, "error": run.error})
            last_write = time.monotonic()
        if changed:
            yield sse("tasks", {"tasks": changed})
            last_write = time.monotonic()
        if run.state.terminal:
            yield sse("end", {"state": run.state.value})
            return
        if time.monotonic() - last_write > HEARTBEAT_SECONDS:
            yield ": heartbeat\n\n"
            last_write = time.monotonic()
        if await _wait(disconnected, poll_seconds):
            return


async def log_events(
    ctx: ServerContext,
    principal: Principal,
    run_id: str,
    path: str,
    disconnected: Disconnected,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[str]:
    """A `tail` event (the last 64 KiB), `lines` events as the log grows, `end` when the
    task is finished and its log read to the end."""
    tail = await run_in_threadpool(log_tail, ctx, principal, run_id, path, None)
    yield sse("tail", tail)
    offset = tail["size"]
    last_write = time.monotonic()
    while True:
        task = await run_in_threadpool(find_task, ctx, run_id, path)
        log = await run_in_threadpool(log_file, ctx, principal, run_id, path)
        data = b""
        if log is not None:
            data, offset = await run_in_threadpool(read_log_chunks, log, offset)
        if data:
            yield sse("lines", {"text": data.decode("utf-8", errors="replace")})
            last_write = time.monotonic()
            continue  # more may be waiting; read on before sleeping
        if task.state.terminal:
            if log is not None:  # a last line without a newline
                data, offset = await run_in_threadpool(
                    read_log_chunks, log, offset, whole_lines=False
                )
                if data:
                    yield sse("lines", {"text": data.decode("utf-8", errors="replace")})
            yield sse("end", {"state": task.state.value})
            return
        if time.monotonic() - last_write > HEARTBEAT_SECONDS:
            yield ": heartbeat\n\n"
            last_write = time.monotonic()
        if await _wait(disconnected, poll_seconds):
            return


def _snapshot(ctx: ServerContext, run_id: str) -> tuple[Any, list[Any]]:
    store = ctx.backend.metadata
    run = store.get_run(run_id, spec=False)  # polled: the spec is read once, by the caller
    return run, store.list_tasks(run_id)


async def _wait(disconnected: Disconnected, seconds: float) -> bool:
    """Sleep `seconds`, checking for a gone client; True when it is gone."""
    deadline = time.monotonic() + seconds
    while True:
        if await disconnected():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.25))
