"""API benchmark: listing runs with 10,000 stored, and create-run throughput, over HTTP.

    .venv/bin/python bench/api_bench.py [--runs 10000] [--creates 200]

References measured in the same run: the raw store query for the same page (what the
database costs) and the `healthz` round trip (the HTTP floor). Run execution is deferred
during the create benchmark (the run manager's start is a no-op), so it times the API and
the store, not the engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import uvicorn

from pinnace.compiler import compile_pipeline
from pinnace.model.state import RunState
from pinnace.server import ServerOptions, create_app
from pinnace.settings import Settings
from pinnace.stores.base import ListQuery, Predicate, RunRecord

SAMPLES = 20


def _spec() -> dict:
    from pinnace import dsl

    @dsl.component
    def nothing() -> int:
        return 0

    @dsl.pipeline(name="bench")
    def bench():
        nothing()

    return compile_pipeline(bench)


def _fill(store, count: int, spec: dict) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    states = [RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELED]
    for i in range(count):
        store.insert_record(
            RunRecord(
                run_id=uuid.uuid4().hex,
                pipeline_name="bench",
                display_name=f"run {i:05d}",
                spec=spec,
                parameters={},
                state=states[i % 3],
                created_at=t0 + timedelta(seconds=i),
                finished_at=t0 + timedelta(seconds=i + 1),
            )
        )


def _median_ms(call, samples: int = SAMPLES) -> float:
    call()  # warm
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _serve(app) -> tuple[uvicorn.Server, str]:
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def _filter(state: str) -> str:
    return json.dumps(
        {"predicates": [{"key": "state", "operation": "EQUALS", "string_value": state}]}
    )


def _list_figures(http: httpx.Client, store) -> dict[str, float]:
    def get(**params) -> dict:
        response = http.get("/apis/v2beta1/runs", params={"page_size": 50, **params})
        response.raise_for_status()
        return response.json()

    token = None
    for _ in range(100):  # page 101 of 50: offset 5,000
        token = get(page_token=token)["next_page_token"] if token else get()["next_page_token"]
    figures = {
        "healthz (HTTP floor)": _median_ms(lambda: http.get("/apis/v2beta1/healthz")),
        "store: first page of 50": _median_ms(
            lambda: store.query_records(RunRecord, ListQuery(limit=50))
        ),
        "store: filtered page": _median_ms(
            lambda: store.query_records(
                RunRecord,
                ListQuery(predicates=(Predicate("state", "eq", "FAILED"),), limit=50),
            )
        ),
        "GET runs: first page": _median_ms(lambda: get()),
        "GET runs: filtered (state)": _median_ms(lambda: get(filter=_filter("FAILED"))),
        "GET runs: sorted (name asc)": _median_ms(lambda: get(sort_by="display_name asc")),
        "GET runs: deep page (offset 5000)": _median_ms(lambda: get(page_token=token)),
    }
    return figures


def _create_rate(http: httpx.Client, spec: dict, count: int) -> float:
    body = {"display_name": "bench", "pipeline_spec": spec}
    started = time.perf_counter()
    for _ in range(count):
        http.post("/apis/v2beta1/runs", json=body).raise_for_status()
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--creates", type=int, default=200)
    args = parser.parse_args(argv)
    spec = _spec()
    with tempfile.TemporaryDirectory(prefix="pinnace-api-bench-") as home:
        settings = Settings.load(env={}, home=home)
        options = ServerOptions(auth=False, scheduler_tick_seconds=0, access_log=False)
        app = create_app(settings, options)
        ctx = app.state.ctx
        started = time.perf_counter()
        _fill(ctx.backend.metadata, args.runs, spec)
        print(f"stored {args.runs} runs in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        ctx.manager.start = lambda run_id: None  # defer execution: time the API only
        server, url = _serve(app)
        try:
            with httpx.Client(base_url=url) as http:
                figures = _list_figures(http, ctx.backend.metadata)
                rate = _create_rate(http, spec, args.creates)
        finally:
            server.should_exit = True
    floor, raw = figures["healthz (HTTP floor)"], figures["store: first page of 50"]
    print(f"{'measure':<36} {'median ms':>10} {'x healthz':>10} {'x store':>8}")
    for name, ms in figures.items():
        print(f"{name:<36} {ms:>10.2f} {ms / floor:>10.1f} {ms / raw:>8.1f}")
    print(f"create run (execution deferred): {rate:.0f} runs/s ({1000 / rate:.1f} ms each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
