"""A real step of a (sandboxed, isolated network: the defaults) server's run tries to reach
the control plane over this machine's loopback: the server's own API, and the PostgreSQL and
MariaDB ports a metadata store would listen on. Every attempt must fail, while the step still
has a network of its own (an interface, a default route, a resolver)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from server_support import LiveServer

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.executors import _sandbox

pytestmark = pytest.mark.skipif(
    _sandbox.shutil.which("bwrap") is None or _sandbox.shutil.which("slirp4netns") is None,
    reason="needs bubblewrap and slirp4netns",
)

DATABASE_PORTS = (5432, 3306)


@dsl.component
def knock(ports: list) -> str:
    import json
    import socket
    import urllib.request

    found: dict = {}
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=3).close()
            found[str(port)] = "connected"
        except OSError as exc:
            found[str(port)] = type(exc).__name__
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/apis/v2beta1/healthz", timeout=3)
        found["api"] = "answered"
    except OSError as exc:
        found["api"] = type(exc).__name__
    with open("/proc/net/route") as f:
        found["routes"] = [line.split()[:3] for line in f.read().splitlines()[1:]]
    with open("/etc/resolv.conf") as f:
        found["resolv"] = f.read()
    return json.dumps(found)


@dsl.pipeline(name="loopback-knock")
def knock_pipeline(ports: list):
    knock(ports=ports).set_caching_options(False)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return True
    except OSError:
        return False


def _finished(server: LiveServer, token: str, run_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = httpx.get(f"{server.url}/apis/v2beta1/runs/{run_id}", headers=headers).json()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return dict(run)
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_step_cannot_reach_the_server_or_a_database_on_the_loopback(
    server: LiveServer, admin_token: str
) -> None:
    assert server.settings.step_network == "isolated"
    api_port = urlparse(server.url).port
    assert api_port and _listening(api_port)  # the test itself reaches it
    response = httpx.post(
        server.url + "/apis/v2beta1/runs",
        json={
            "display_name": "knock",
            "pipeline_spec": compile_pipeline(knock_pipeline),
            "runtime_config": {"parameters": {"ports": [api_port, *DATABASE_PORTS]}},
        },
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    run = _finished(server, admin_token, run_id)
    assert run["state"] == "SUCCEEDED", run.get("error")
    task = next(t for t in server.app.state.ctx.backend.metadata.list_tasks(run_id) if t.outputs)
    found = json.loads(task.outputs["parameters"]["Output"])
    assert found[str(api_port)] == "ConnectionRefusedError"
    assert found["api"] != "answered"
    for port in DATABASE_PORTS:
        assert found[str(port)] == "ConnectionRefusedError", port
    assert ["tap0", "00000000", "0202000A"] in found["routes"]  # its own way out
    assert "nameserver 10.0.2.3" in found["resolv"]
