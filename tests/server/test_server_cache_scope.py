"""The task cache is scoped to a namespace: one user's cached outputs never reach another."""

from __future__ import annotations

import time

import httpx
from server_support import LiveServer

from pinnace import dsl
from pinnace.compiler import compile_pipeline


@dsl.component
def secret_maker(seed: str) -> str:
    import uuid

    return f"{seed}-{uuid.uuid4().hex}"  # differs per execution: a reuse shows


@dsl.pipeline(name="cache-scope")
def cached(seed: str = "same"):
    secret_maker(seed=seed)


def _run(server: LiveServer, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    run = httpx.post(
        server.url + "/apis/v2beta1/runs",
        json={"display_name": "c", "pipeline_spec": compile_pipeline(cached)},
        headers=headers,
    ).json()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = httpx.get(f"{server.url}/apis/v2beta1/runs/{run['run_id']}", headers=headers).json()
        if got["state"] in ("SUCCEEDED", "FAILED"):
            assert got["state"] == "SUCCEEDED", got
            store = server.app.state.ctx.backend.metadata
            task = next(t for t in store.list_tasks(run["run_id"]) if t.outputs)
            return {"state": task.state.value, "output": task.outputs["parameters"]["Output"]}
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


def test_the_cache_is_per_namespace(server: LiveServer) -> None:
    alice = server.add_user("alice-cache", "alice-password")
    bob = server.add_user("bob-cache", "bob-password")
    first = _run(server, alice)
    again = _run(server, alice)
    assert again["state"] == "CACHED" and again["output"] == first["output"]
    theirs = _run(server, bob)  # the same spec and inputs, another namespace
    assert theirs["state"] != "CACHED" and theirs["output"] != first["output"]
    assert _run(server, bob)["output"] == theirs["output"]  # bob's own cache works
    assert _run(server, alice)["output"] == first["output"]  # and bob did not replace alice's
