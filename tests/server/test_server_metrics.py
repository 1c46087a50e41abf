"""`/metrics` in Prometheus text format (admins only) and the JSON access log."""

from __future__ import annotations

import json
import logging
import re
import time

import httpx
import pytest
from server_support import LiveServer

from pinnace import dsl
from pinnace.compiler import compile_pipeline


@dsl.component
def one() -> int:
    return 1


@dsl.pipeline(name="metered")
def metered():
    one()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sample(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from:\n{text}"
    return float(match.group(1))


def test_metrics_count_runs_tasks_and_requests(server: LiveServer, admin_token: str) -> None:
    body = {"display_name": "m", "pipeline_spec": compile_pipeline(metered)}
    run = httpx.post(f"{server.url}/apis/v2beta1/runs", json=body, headers=_auth(admin_token))
    run_id = run.json()["run_id"]
    server.app.state.ctx.manager.wait(run_id, 60)
    response = httpx.get(f"{server.url}/metrics", headers=_auth(admin_token))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert _sample(text, 'pinnace_runs{state="SUCCEEDED"}') >= 1
    assert _sample(text, "pinnace_run_queue_depth") >= 0
    assert _sample(text, 'pinnace_task_duration_seconds_count{state="SUCCEEDED"}') >= 1
    assert _sample(text, 'pinnace_task_duration_seconds_bucket{state="SUCCEEDED",le="+Inf"}') >= 1
    assert _sample(text, 'pinnace_http_requests_total{method="POST",status="200"}') >= 1
    assert "# TYPE pinnace_task_duration_seconds histogram" in text


def test_metrics_need_an_admin(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    user_token = server.add_user("metrics-reader")
    assert httpx.get(f"{server.url}/metrics", headers=_auth(user_token)).status_code == 403


def test_each_request_logs_one_json_line_without_secrets(
    server: LiveServer, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("pinnace.server.access")
    logger.addHandler(handler)
    try:
        httpx.get(
            f"{server.url}/apis/v2beta1/runs",
            params={"page_size": 1},
            headers=_auth(admin_token),
        )
        httpx.get(f"{server.url}/apis/v2beta1/runs/nope", headers=_auth("pnc_wrong-token"))
        wanted = {"/apis/v2beta1/runs", "/apis/v2beta1/runs/nope"}

        def ours() -> list[dict]:
            # A request of an earlier test may log after this handler is attached: skip it.
            return [e for e in map(json.loads, list(lines)) if e["path"] in wanted]

        deadline = time.monotonic() + 5
        while len(ours()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        logger.removeHandler(handler)
    ok, denied = sorted(ours(), key=lambda e: e["path"])
    assert ok["method"] == "GET" and ok["path"] == "/apis/v2beta1/runs"
    assert ok["status"] == 200 and ok["user"] == "admin" and ok["duration_ms"] >= 0
    assert denied["status"] == 401 and denied["user"] is None
    assert all(admin_token not in line and "wrong-token" not in line for line in lines)
