"""Server metrics in the Prometheus text format, and one JSON log line per request.

Counters live in memory per server process (`ServerMetrics`); run counts by state and the
queue depth are read from the store at scrape time, so they cover every process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..model.state import RunState

if TYPE_CHECKING:
    from ..engine.events import EngineEvent
    from .context import ServerContext

ACCESS_LOG = logging.getLogger("pinnace.server.access")
#: task duration histogram bounds, seconds
TASK_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_TERMINAL_TASK_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})


class Histogram:
    """A cumulative-bucket histogram, the Prometheus way."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        index = next((i for i, b in enumerate(self.bounds) if value <= b), len(self.bounds))
        self.counts[index] += 1
        self.total += value

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip(self.bounds, self.counts[:-1], strict=True):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        running += self.counts[-1]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {running}')
        suffix = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{suffix} {self.total:.6f}", f"{name}_count{suffix} {running}"]
        return out


class ServerMetrics:
    """What one server process counts: task durations and HTTP requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.task_seconds: dict[str, Histogram] = {}
        self.requests: dict[tuple[str, int], int] = {}
        self.request_seconds = Histogram(REQUEST_BUCKETS)

    def on_engine_event(self, event: EngineEvent) -> None:
        """An engine event sink: finished task attempts feed the duration histogram."""
        if event.task_name is None or event.seconds is None:
            return
        if event.state not in _TERMINAL_TASK_STATES:
            return
        with self._lock:
            histogram = self.task_seconds.setdefault(event.state, Histogram(TASK_BUCKETS))
            histogram.observe(event.seconds)

    def on_request(self, method: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.request_seconds.observe(seconds)

    def render(self, ctx: ServerContext) -> str:
        """The exposition text (format 0.0.4)."""
        lines = _run_lines(ctx)
        lines += [
            "# HELP pinnace_task_duration_seconds Duration of finished task attempts.",
            "# TYPE pinnace_task_duration_seconds histogram",
        ]
        with self._lock:
            for state, histogram in sorted(self.task_seconds.items()):
                lines += histogram.lines("pinnace_task_duration_seconds", f'state="{state}"')
            lines += [
                "# HELP pinnace_http_requests_total HTTP requests served, by method and status.",
                "# TYPE pinnace_http_requests_total counter",
            ]
            for (method, status), count in sorted(self.requests.items()):
                lines.append(
                    f'pinnace_http_requests_total{{method="{method}",status="{status}"}} {count}'
                )
            lines += [
                "# HELP pinnace_http_request_duration_seconds Time to answer HTTP requests.",
                "# TYPE pinnace_http_request_duration_seconds histogram",
                *self.request_seconds.lines("pinnace_http_request_duration_seconds"),
            ]
        return "\n".join(lines) + "\n"


def _run_lines(ctx: ServerContext) -> list[str]:
    from ..stores.base import ListQuery, Predicate, RunRecord

    store = ctx.backend.metadata
    lines = [
        "# HELP pinnace_runs Runs in the store, by state.",
        "# TYPE pinnace_runs gauge",
    ]
    counts = {}
    for state in RunState:
        query = ListQuery(predicates=(Predicate("state", "eq", state.value),), limit=0)
        counts[state] = store.query_records(RunRecord, query).total
        lines.append(f'pinnace_runs{{state="{state.value}"}} {counts[state]}')
    lines += [
        "# HELP pinnace_run_queue_depth Runs stored but not yet started by a driver.",
        "# TYPE pinnace_run_queue_depth gauge",
        f"pinnace_run_queue_depth {counts[RunState.PENDING]}",
        "# HELP pinnace_runs_driven Runs this server process is driving now.",
        "# TYPE pinnace_runs_driven gauge",
        f"pinnace_runs_driven {ctx.manager.active_count()}",
    ]
    return lines


class AccessLog:
    """ASGI middleware: one JSON line per request (method, path, status, duration, user).

    Only the path is logged, never the query string or headers, so no token is written.
    """

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.on_request(scope["method"], status, seconds)
            principal = (scope.get("state") or {}).get("principal")
            ACCESS_LOG.info(
                json.dumps(
                    {
                        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "user": getattr(principal, "name", None),
                    }
                )
            )


def install_access_log_handler() -> None:
    """Write access lines as they are (JSON) to stderr, unless a handler exists already."""
    if ACCESS_LOG.handlers:
        return
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ACCESS_LOG.addHandler(handler)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
