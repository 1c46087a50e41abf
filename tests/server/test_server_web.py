"""Web hardening: Host allowlist, Origin checks, security headers, hostile numbers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from server_support import LiveServer, live_server

from pinnace.server.middleware import allowed_host_set, cross_origin_reason, host_name


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SPEC_YAML = "pipelineInfo:\n  name: x\nschemaVersion: 2.1.0\nroot:\n  dag:\n    tasks: {}\n"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8888", "127.0.0.1.nip.io", ""])
def test_unknown_host_names_are_refused(server: LiveServer, admin_token: str, host: str) -> None:
    for path in ("/apis/v2beta1/runs", "/apis/v2beta1/healthz", "/"):
        response = httpx.get(server.url + path, headers={**h(admin_token), "Host": host})
        assert response.status_code == 400, (path, host)
        assert "host name" in response.json()["message"]
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:80", "LOCALHOST:1"])
def test_loopback_names_are_answered(server: LiveServer, host: str) -> None:
    response = httpx.get(server.url + "/apis/v2beta1/healthz", headers={"Host": host})
    assert response.status_code == 200


def test_allowed_host_set() -> None:
    allowed = allowed_host_set(["pipelines.example.org", "*.corp.example"], "10.1.2.3")
    assert {"localhost", "127.0.0.1", "::1", "pipelines.example.org", "10.1.2.3"} <= allowed
    assert "0.0.0.0" not in allowed_host_set([], "0.0.0.0")
    assert host_name("[::1]:8888") == "::1" and host_name("Example.ORG:1") == "example.org"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_origin_writes_are_refused(
    server: LiveServer, admin_token: str, headers: dict[str, str]
) -> None:
    url = server.url + "/apis/v2beta1/experiments"
    before = httpx.get(url, headers=h(admin_token)).json().get("total_size", 0)
    for method in ("POST", "DELETE"):
        target = url if method == "POST" else url + "/some-id"
        response = httpx.request(
            method, target, json={"display_name": "csrf"}, headers={**h(admin_token), **headers}
        )
        assert response.status_code == 403, (method, response.text)
        assert "cross-origin" in response.json()["message"]
    assert httpx.get(url, headers=h(admin_token)).json().get("total_size", 0) == before
    # the same request from the server's own origin goes through
    same = httpx.post(
        url,
        json={"display_name": f"same-origin-{len(headers)}-{sorted(headers.values())[0]}"},
        headers={**h(admin_token), "Origin": server.url},
    )
    assert same.status_code == 200, same.text


def test_cross_site_multipart_upload_to_a_no_auth_server_is_refused(tmp_path: Path) -> None:
    with live_server(tmp_path, auth=False) as live:
        url = live.url + "/apis/v2beta1/pipelines/upload?name=planted"
        files = {"uploadfile": ("p.yaml", SPEC_YAML)}
        response = httpx.post(url, files=files, headers={"Origin": "http://evil.example"})
        assert response.status_code == 403
        response = httpx.post(url, files=files, headers={"Sec-Fetch-Site": "cross-site"})
        assert response.status_code == 403
        listed = httpx.get(live.url + "/apis/v2beta1/pipelines").json()
        assert "planted" not in {p["name"] for p in listed.get("pipelines", [])}
        assert httpx.post(url, files=files).status_code == 200  # a script, not a browser


def test_origin_rule_units() -> None:
    def scope(**headers: str) -> dict:
        return {"headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}

    assert cross_origin_reason(scope(Host="a.example", Origin="https://a.example")) is None
    assert cross_origin_reason(scope(Host="a.example:80", Origin="http://a.example")) is None
    assert cross_origin_reason(scope(Host="127.0.0.1:9", Origin="https://p.example")) is not None
    trusted = frozenset({"p.example"})  # --allowed-host behind a proxy that rewrites Host
    assert (
        cross_origin_reason(scope(Host="127.0.0.1:9", Origin="https://p.example"), trusted) is None
    )
    assert cross_origin_reason(scope(Host="x", **{"Sec-Fetch-Site": "same-origin"})) is None
    assert cross_origin_reason(scope(Host="x")) is None


def test_every_response_has_nosniff_and_the_page_a_strict_csp(
    server: LiveServer, admin_token: str
) -> None:
    for path, headers in [
        ("/apis/v2beta1/healthz", {}),
        ("/apis/v2beta1/runs", {}),  # 401
        ("/apis/v2beta1/runs", h(admin_token)),
        ("/apis/v2beta1/runs/nope", h(admin_token)),  # 404
        ("/no/such/page", {}),
        ("/", {}),
    ]:
        response = httpx.get(server.url + path, headers=headers)
        assert response.headers.get("x-content-type-options") == "nosniff", path
    csp = httpx.get(server.url + "/").headers["content-security-policy"]
    connect = next(p for p in csp.split(";") if p.strip().startswith("connect-src"))
    assert connect.split() == ["connect-src", "'self'"]


def test_hostile_numbers_are_400(server: LiveServer, admin_token: str) -> None:
    digits = "9" * 100_000
    yaml_upload = httpx.post(
        server.url + "/apis/v2beta1/pipelines/upload?name=huge-int",
        files={"uploadfile": ("p.yaml", SPEC_YAML + f"extra: {digits}\n")},
        headers=h(admin_token),
    )
    json_upload = httpx.post(
        server.url + "/apis/v2beta1/pipelines/upload?name=huge-int-json",
        files={"uploadfile": ("p.json", f'{{"pipelineInfo": {{"name": {digits}}}}}')},
        headers=h(admin_token),
    )
    body = httpx.post(
        server.url + "/apis/v2beta1/runs",
        content=f'{{"display_name": "x", "pipeline_spec": {{"n": {digits}}}}}',
        headers={**h(admin_token), "Content-Type": "application/json"},
    )
    params = httpx.get(
        server.url + "/apis/v2beta1/runs",
        params={"page_size": digits[:5000]},
        headers=h(admin_token),
    )
    for response in (yaml_upload, json_upload, body, params):
        assert response.status_code == 400, response.text[:300]
        body = response.json()  # the upload routes answer KFP's {error_message, ...}
        assert body.get("code", 3) == 3 and (body.get("message") or body["error_message"])
