"""Timing a warm `pinnace server`: submit the book run through the KFP API, wait for SUCCEEDED."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any


def book_spec(example: Path) -> dict[str, Any]:
    """The book pipeline's IR with every task's cache off (what `--no-cache` does)."""
    import copy

    from pinnace.sources import load_pipeline_file

    spec = copy.deepcopy(load_pipeline_file(example))
    _no_cache(spec)
    return spec


def _no_cache(node: Any) -> None:
    if isinstance(node, dict):
        if "cachingOptions" in node:
            node["cachingOptions"] = {"enableCache": False}
        for value in node.values():
            _no_cache(value)
    elif isinstance(node, list):
        for value in node:
            _no_cache(value)


def time_server_book(
    home: Path,
    spec: dict[str, Any],
    repeat: int,
    *,
    sandboxed: bool = False,
    shares: tuple[str, ...] = (),
    forked: bool = True,
) -> dict[str, Any]:
    """Submit-to-SUCCEEDED of the book run on one running server: a first run, then `repeat`.

    The server runs in this process (uvicorn thread, auth off), on `home` (its environments
    already built). Each sample is the wall time from the create-run request to the poll that
    sees SUCCEEDED (polled every 10 ms). Reports the fork servers it kept between runs.

    Steps run unsandboxed unless `sandboxed` (a server's default): a sandboxed attempt forks
    from a sandboxed fork server of its owner into a sandbox of its own, or with `forked`
    False starts a fresh interpreter inside its own sandbox; it sees `shares` read-only (the
    book reads its CSV from this checkout, which the sandbox otherwise hides).
    """
    import httpx
    import uvicorn

    from pinnace.server import ServerOptions, create_app
    from pinnace.settings import Settings

    settings = Settings.load(
        env={}, home=home, sandbox_shares=shares or None, sandboxed_fork_servers=forked
    )
    app = create_app(
        settings,
        ServerOptions(
            auth=False, scheduler_tick_seconds=0, access_log=False, unsandboxed=not sandboxed
        ),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            first = _submit_and_wait(http, spec)
            samples = [_submit_and_wait(http, spec) for _ in range(repeat)]
        manager = app.state.ctx.manager
        forks = manager.executor().fork_servers()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    walls = [s["wall"] for s in samples]
    return {
        "first": first,
        "wall": statistics.median(walls),
        "min": min(walls),
        "samples": samples,
        "fork_servers": forks,
    }


def _submit_and_wait(http: Any, spec: dict[str, Any]) -> dict[str, Any]:
    body = {"display_name": "bench book", "pipeline_spec": spec}
    started = time.perf_counter()
    response = http.post("/apis/v2beta1/runs", json=body)
    response.raise_for_status()
    run_id = response.json()["run_id"]
    while True:
        state = http.get(f"/apis/v2beta1/runs/{run_id}").json().get("state")
        if state in ("SUCCEEDED", "FAILED", "CANCELED"):
            break
        time.sleep(0.01)
    wall = time.perf_counter() - started
    if state != "SUCCEEDED":
        raise SystemExit(f"bench: server run {run_id} ended {state}")
    return {"wall": wall, "run_id": run_id}
