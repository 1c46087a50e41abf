"""The dashboard's upload from a URL: the server downloads the package under package_url's
rules (refusals reach the caller as messages), then names it from its spec like the form."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from server_support import LiveServer

from pinnace.server.services import ui_upload

UPLOAD = "/apis/pinnace/v1/ui/pipelines/upload_url"
SPEC = {
    "pipelineInfo": {"name": "from-url", "description": "Fetched by the server."},
    "root": {"dag": {"tasks": {}}},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.7.0",
    "components": {},
    "deploymentSpec": {"executors": {}},
}


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:8080/p.yaml", "is not an https URL"),
        ("https://example.com/p.yaml", "not on the allowlist"),
        ("https://github.com:8443/p.yaml", "port 443"),
    ],
)
def test_refusals_name_the_rule(server: LiveServer, admin_token: str, url: str, words: str) -> None:
    answer = httpx.post(f"{server.url}{UPLOAD}", json={"url": url}, headers=h(admin_token))
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert words in body["message"]
    assert any("upload the file" in (d.get("hint") or "") for d in body["details"]), body


def test_needs_a_login(server: LiveServer) -> None:
    answer = httpx.post(f"{server.url}{UPLOAD}", json={"url": "https://github.com/p.yaml"})
    assert answer.status_code == 401


def test_downloaded_package_becomes_a_pipeline_then_a_version(
    server: LiveServer, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The download itself is tested in test_server_package_url.py; here only what follows it.
    asked: list[tuple[str, Any]] = []

    def fetched(url: str, *, max_bytes: int, domains: Any) -> tuple[str, bytes]:
        asked.append((url, tuple(domains)))
        return "pipeline.json", json.dumps(SPEC).encode()

    monkeypatch.setattr(ui_upload, "fetch_package", fetched)
    url = "https://raw.githubusercontent.com/org/repo/main/pipeline.json"
    made = httpx.post(
        f"{server.url}{UPLOAD}", json={"url": f"  {url} "}, headers=h(admin_token)
    ).json()
    assert asked[0][0] == url and "github.com" in asked[0][1]
    assert made["name"] == "from-url"  # named from its spec, not after the file
    pipeline = httpx.get(
        f"{server.url}/apis/v2beta1/pipelines/{made['pipeline_id']}", headers=h(admin_token)
    ).json()
    assert pipeline["description"] == "Fetched by the server."
    again = httpx.post(
        f"{server.url}{UPLOAD}",
        json={"url": url, "pipeline_id": made["pipeline_id"], "name": "v2"},
        headers=h(admin_token),
    ).json()
    assert again["pipeline_id"] == made["pipeline_id"] and again["name"] == "v2"
    version = httpx.get(
        f"{server.url}/apis/v2beta1/pipelines/{made['pipeline_id']}/versions/"
        f"{again['pipeline_version_id']}",
        headers=h(admin_token),
    ).json()
    assert version["code_source_url"] == url
