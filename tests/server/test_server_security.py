"""Auth, isolation between users, and hostile input against a live server."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from server_support import LiveServer, live_server

from pinnace.server.app import iter_routes

SPEC = {
    "pipelineInfo": {"name": "sleepy"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.17.3",
    "root": {
        "dag": {
            "tasks": {"nap": {"taskInfo": {"name": "nap"}, "componentRef": {"name": "comp-nap"}}}
        }
    },
    "components": {"comp-nap": {"executorLabel": "exec-nap"}},
    "deploymentSpec": {
        "executors": {
            "exec-nap": {
                "container": {
                    "image": "python:3.11",
                    "command": ["python", "-c", "import time; time.sleep(60)"],
                }
            }
        }
    },
}


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_but_healthz_and_login_needs_credentials(server: LiveServer) -> None:
    public = {
        "/apis/v2beta1/healthz",
        "/apis/v1beta1/healthz",
        "/apis/pinnace/v1/login",
        "/openapi.json",
    }
    checked = 0
    for path, methods in iter_routes(server.app):
        if path in public:
            continue
        url = server.url + re.sub(r"\{[^}]+\}", "x", path)
        for method in methods - {"HEAD"}:
            for headers in ({}, {"Authorization": "Bearer nothing"}, {"Authorization": "Basic x"}):
                response = httpx.request(method, url, headers=headers)
                assert response.status_code == 401, (method, path, headers)
                if path.endswith(("/upload", "/upload_version")):  # KFP's upload error shape
                    assert response.json()["error_message"]
                else:
                    assert response.json()["code"] == 16
            checked += 1
    assert checked >= 25
    assert httpx.get(server.url + "/apis/v2beta1/healthz").status_code == 200


def test_wrong_password_is_refused(server: LiveServer) -> None:
    response = httpx.post(
        server.url + "/apis/pinnace/v1/login", json={"username": "admin", "password": "wrong"}
    )
    assert response.status_code == 401


def test_users_see_only_their_namespace(server: LiveServer, admin_token: str) -> None:
    alice, bob = server.add_user("alice"), server.add_user("bob")
    url = server.url + "/apis/v2beta1"
    exp = httpx.post(f"{url}/experiments", json={"display_name": "mine"}, headers=h(alice))
    exp_id = exp.json()["experiment_id"]
    run = httpx.post(
        f"{url}/runs",
        headers=h(alice),
        json={"display_name": "a-run", "experiment_id": exp_id, "pipeline_spec": SPEC},
    )
    assert run.status_code == 200, run.text
    run_id = run.json()["run_id"]
    for path in (f"/experiments/{exp_id}", f"/runs/{run_id}"):
        assert httpx.get(url + path, headers=h(bob)).status_code == 404
        assert httpx.get(url + path, headers=h(alice)).status_code == 200
        assert httpx.get(url + path, headers=h(admin_token)).status_code == 200
    for action in (":terminate", ":archive", ":retry"):
        assert httpx.post(f"{url}/runs/{run_id}{action}", headers=h(bob)).status_code == 404
    assert httpx.delete(f"{url}/experiments/{exp_id}", headers=h(bob)).status_code == 404
    assert (
        httpx.get(f"{url}/runs/{run_id}/nodes/nap/artifacts/x:read", headers=h(bob)).status_code
        == 404
    )
    assert "runs" not in httpx.get(f"{url}/runs", headers=h(bob)).json()
    assert httpx.get(f"{url}/runs?experiment_id={exp_id}", headers=h(bob)).status_code == 404
    assert httpx.get(f"{url}/runs?namespace=alice", headers=h(bob)).status_code == 403
    # terminate a running run: it ends CANCELED
    assert httpx.post(f"{url}/runs/{run_id}:terminate", headers=h(alice)).status_code == 200
    deadline = time.monotonic() + 30
    while (state := httpx.get(f"{url}/runs/{run_id}", headers=h(alice)).json()["state"]) not in (
        "CANCELED",
        "FAILED",
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state == "CANCELED"


BAD_FILTERS = [
    "name' OR 1=1--",
    json.dumps({"predicates": [{"key": "name' OR 1=1--", "operation": 1, "stringValue": "x"}]}),
    json.dumps({"predicates": [{"key": "display_name", "operation": 42, "stringValue": "x"}]}),
    json.dumps({"predicates": [{"key": "spec", "operation": "EQUALS", "string_value": "x"}]}),
]


@pytest.mark.parametrize(
    "params",
    [{"filter": f} for f in BAD_FILTERS]
    + [
        {"sort_by": "created_at; DROP TABLE runs"},
        {"sort_by": "(CASE WHEN 1 THEN 1 END)"},
        {"page_token": "not-a-token"},
        {"page_size": "-1"},
        {"page_size": "NaN"},
    ],
)
def test_hostile_list_parameters_are_400(server: LiveServer, admin_token: str, params) -> None:
    response = httpx.get(server.url + "/apis/v2beta1/runs", params=params, headers=h(admin_token))
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"display_name": "x", "unknown_field": 1}',
        b'["a list"]',
        b'{"display_name": "x", "pipeline_spec": "not a spec"}',
        b'{"display_name": "x", "pipeline_spec": {"root": {}}}',
    ],
)
def test_bad_run_bodies_are_400_and_store_nothing(
    server: LiveServer, admin_token: str, body: bytes
) -> None:
    url = server.url + "/apis/v2beta1/runs"
    before = httpx.get(url, headers=h(admin_token)).json().get("total_size", 0)
    response = httpx.post(
        url, content=body, headers={**h(admin_token), "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3 and response.json()["message"]
    assert httpx.get(url, headers=h(admin_token)).json().get("total_size", 0) == before


def _upload(server: LiveServer, token: str, name: str, data: bytes, filename: str = "p.yaml"):
    return httpx.post(
        server.url + f"/apis/v2beta1/pipelines/upload?name={name}",
        files={"uploadfile": (filename, data)},
        headers=h(token),
    )


def test_hostile_uploads_are_refused(server: LiveServer, admin_token: str) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    assert _upload(server, admin_token, "bomb", bomb.encode()).status_code == 400
    deep = ("[" * 5000 + "]" * 5000).encode()
    assert _upload(server, admin_token, "deep", deep).status_code == 400
    evil = b"!!python/object/apply:os.system ['echo hi']\n"
    assert _upload(server, admin_token, "evil", evil).status_code == 400
    assert _upload(server, admin_token, "exe", b"MZ", filename="p.exe").status_code == 400
    listed = httpx.get(server.url + "/apis/v2beta1/pipelines", headers=h(admin_token)).json()
    assert not {"bomb", "deep", "evil", "exe"} & {p["name"] for p in listed.get("pipelines", [])}


def test_tarball_upload_reads_in_memory(server: LiveServer, admin_token: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = json.dumps(SPEC).encode()
        info = tarfile.TarInfo("../../escape/pipeline.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    response = _upload(server, admin_token, "tarred", buffer.getvalue(), "p.tar.gz")
    assert response.status_code == 200, response.text
    assert not (server.home.parent / "escape").exists()


def test_oversized_upload_is_413(tmp_path: Path) -> None:
    with live_server(tmp_path, max_upload_bytes=1000) as live:
        token = live.login()
        response = _upload(live, token, "big", b"#" * 200_000)
        assert response.status_code == 413 and response.json()["code"] == 8


def test_path_prefix_and_no_auth_mode(tmp_path: Path) -> None:
    with live_server(tmp_path, auth=False, path_prefix="/pipeline") as live:
        assert live.url.endswith("/pipeline")
        assert httpx.get(live.url + "/apis/v2beta1/runs").status_code == 200
        assert httpx.get(live.url + "/apis/v2beta1/healthz").json()["multi_user"] is False
