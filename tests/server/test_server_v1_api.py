"""The v1beta1 wire rules over plain HTTP (the kfp 1.8 client's own test needs a package
index; these run anywhere): JSON names, enums, references, filters and the Argo manifest."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import time

import httpx
import pytest
from server_support import LiveServer

V1 = "/apis/v1beta1"
WRITE = "import sys; open(sys.argv[2], 'w').write(sys.argv[1])"
SPEC = {
    "pipelineInfo": {"name": "v1-echo"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.17.3",
    "root": {
        "inputDefinitions": {
            "parameters": {"text": {"parameterType": "STRING", "defaultValue": "hello"}}
        },
        "dag": {
            "tasks": {
                "echo": {
                    "taskInfo": {"name": "echo"},
                    "componentRef": {"name": "comp-echo"},
                    "inputs": {
                        "parameters": {"text": {"componentInputParameter": "text"}}
                    },
                }
            }
        },
    },
    "components": {
        "comp-echo": {
            "executorLabel": "exec-echo",
            "inputDefinitions": {"parameters": {"text": {"parameterType": "STRING"}}},
            "outputDefinitions": {"artifacts": {"out": {"artifactType": {
                "schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}}},
        }
    },
    "deploymentSpec": {
        "executors": {
            "exec-echo": {
                "container": {
                    "image": "python:3.11",
                    "command": ["python", "-c", WRITE],
                    "args": [
                        "{{$.inputs.parameters['text']}}",
                        "{{$.outputs.artifacts['out'].path}}",
                    ],
                }
            }
        }
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def api(server: LiveServer, admin_token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=server.url + V1, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def experiment(api: httpx.Client) -> dict:
    answer = api.post("/experiments", json={"name": "v1-exp", "description": "d"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait(api: httpx.Client, run_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        detail = api.get(f"/runs/{run_id}").json()
        if detail["run"]["status"] in ("Succeeded", "Failed"):
            return detail
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(scope="module")
def finished(api: httpx.Client, experiment: dict) -> dict:
    body = {
        "name": "v1-run",
        "pipeline_spec": {
            "pipeline_manifest": json.dumps(SPEC),
            "parameters": [{"name": "text", "value": "from v1"}],
        },
        "resource_references": [
            {"key": {"type": "EXPERIMENT", "id": experiment["id"]}, "relationship": "OWNER"}
        ],
    }
    created = api.post("/runs", json=body)
    assert created.status_code == 200, created.text
    return _wait(api, created.json()["run"]["id"])


def test_experiment_json_uses_v1_names_and_enums(api: httpx.Client, experiment: dict) -> None:
    assert set(experiment) >= {"id", "name", "created_at", "storage_state"}
    assert experiment["storage_state"] == "STORAGESTATE_AVAILABLE"
    flt = json.dumps({"predicates": [{"op": 1, "key": "name", "stringValue": "v1-exp"}]})
    listed = api.get("/experiments", params={"filter": flt}).json()
    assert [e["id"] for e in listed["experiments"]] == [experiment["id"]]
    assert listed["total_size"] == 1


def test_run_json_and_references(finished: dict, experiment: dict) -> None:
    run = finished["run"]
    assert run["status"] == "Succeeded" and run["name"] == "v1-run"
    assert run["storage_state"] == "STORAGESTATE_AVAILABLE"
    refs = {r["key"]["type"]: r["key"]["id"] for r in run["resource_references"]}
    assert refs["EXPERIMENT"] == experiment["id"]
    assert run["pipeline_spec"]["parameters"] == [{"name": "text", "value": "from v1"}]
    assert json.loads(run["pipeline_spec"]["pipeline_manifest"]) == SPEC


def test_workflow_manifest_has_argo_nodes(finished: dict) -> None:
    workflow = json.loads(finished["pipeline_runtime"]["workflow_manifest"])
    assert workflow["kind"] == "Workflow" and workflow["status"]["phase"] == "Succeeded"
    nodes = workflow["status"]["nodes"]
    root = nodes[workflow["metadata"]["name"]]
    assert root["type"] == "DAG" and root["children"] == ["echo"]
    echo = nodes["echo"]
    assert echo["type"] == "Pod" and echo["phase"] == "Succeeded"
    assert echo["inputs"]["parameters"] == [{"name": "text", "value": "from v1"}]
    assert [a["name"] for a in echo["outputs"]["artifacts"]] == ["out"]


def test_read_artifact_is_a_tarball(api: httpx.Client, finished: dict) -> None:
    run_id = finished["run"]["id"]
    data = api.get(f"/runs/{run_id}/nodes/echo/artifacts/out:read").json()["data"]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(data)), mode="r:gz") as archive:
        assert archive.extractfile("out").read() == b"from v1"


def test_filters_translate_v1_enums(api: httpx.Client, finished: dict) -> None:
    run_id = finished["run"]["id"]

    def ids(**predicate: str) -> list[str]:
        flt = json.dumps({"predicates": [{"op": 1, **predicate}]})
        return [r["id"] for r in api.get("/runs", params={"filter": flt}).json().get("runs", [])]

    assert run_id in ids(key="status", stringValue="Succeeded")
    assert run_id not in ids(key="status", stringValue="Failed")  # FAILED or CANCELED
    assert run_id not in ids(key="storage_state", stringValue="STORAGESTATE_ARCHIVED")
    assert api.post(f"/runs/{run_id}:archive").status_code == 200
    assert run_id in ids(key="storage_state", stringValue="STORAGESTATE_ARCHIVED")
    assert api.post(f"/runs/{run_id}:unarchive").status_code == 200


def test_empty_lists_are_empty_objects(api: httpx.Client) -> None:
    empty = api.post("/experiments", json={"name": "v1-empty"}).json()
    listed = api.get(
        "/runs",
        params={
            "resource_reference_key.type": "EXPERIMENT",
            "resource_reference_key.id": empty["id"],
        },
    )
    assert listed.status_code == 200 and listed.json() == {}


def test_upload_version_list_and_templates(api: httpx.Client) -> None:
    files = {"uploadfile": ("echo.yaml", json.dumps(SPEC).encode(), "application/x-yaml")}
    pipeline = api.post("/pipelines/upload", params={"name": "v1-pipe"}, files=files).json()
    assert pipeline["name"] == "v1-pipe"
    assert pipeline["parameters"] == [{"name": "text", "value": "hello"}]
    assert pipeline["default_version"]["name"] == "v1-pipe"
    version = api.post(
        "/pipelines/upload_version",
        params={"name": "second", "pipelineid": pipeline["id"]},
        files=files,
    ).json()
    refs = version["resource_references"]
    assert refs == [{"key": {"type": "PIPELINE", "id": pipeline["id"]}, "relationship": "OWNER"}]
    key = {"resource_key.type": "PIPELINE", "resource_key.id": pipeline["id"]}
    listed = api.get("/pipeline_versions", params={**key, "sort_by": "created_at"}).json()
    assert [v["name"] for v in listed["versions"]] == ["v1-pipe", "second"]
    assert api.get("/pipeline_versions").status_code == 400  # which pipeline?
    template = api.get(f"/pipeline_versions/{version['id']}/templates").json()["template"]
    assert "v1-echo" in template
    assert api.get(f"/pipelines/{pipeline['id']}").json()["default_version"]["name"] == "second"
    assert api.delete(f"/pipelines/{pipeline['id']}").status_code == 200  # with its versions
    assert api.get(f"/pipeline_versions/{version['id']}").status_code == 404


def test_upload_errors_and_urls(api: httpx.Client) -> None:
    files = {"uploadfile": ("bad.yaml", b"root: 3\n", "application/x-yaml")}
    bad = api.post("/pipelines/upload", params={"name": "bad"}, files=files)
    assert bad.status_code == 400 and set(bad.json()) == {"error_message", "error_details"}
    by_url = api.post("/pipelines", json={"name": "u", "url": {"pipeline_url": "https://x.test"}})
    assert by_url.status_code == 400 and "upload" in by_url.json()["details"][0]["hint"]


def test_jobs(api: httpx.Client, experiment: dict) -> None:
    body = {
        "name": "v1-job",
        "pipeline_spec": {"pipeline_manifest": json.dumps(SPEC)},
        "resource_references": [
            {"key": {"type": "EXPERIMENT", "id": experiment["id"]}, "relationship": "OWNER"}
        ],
        "trigger": {"periodic_schedule": {"interval_second": "3600"}},
        "max_concurrency": "2",
        "enabled": False,
    }
    job = api.post("/jobs", json=body).json()
    assert job["mode"] == "DISABLED" and job["enabled"] is False
    assert job["max_concurrency"] == "2"
    assert job["trigger"]["periodic_schedule"]["interval_second"] == "3600"
    assert api.post(f"/jobs/{job['id']}/enable").status_code == 200
    assert api.get(f"/jobs/{job['id']}").json()["mode"] == "ENABLED"
    assert api.post(f"/jobs/{job['id']}/disable").status_code == 200
    scope = {
        "resource_reference_key.type": "EXPERIMENT",
        "resource_reference_key.id": experiment["id"],
    }
    assert [j["name"] for j in api.get("/jobs", params=scope).json()["jobs"]] == ["v1-job"]
    assert api.delete(f"/jobs/{job['id']}").status_code == 200
    assert api.get(f"/jobs/{job['id']}").status_code == 404


def test_run_metrics_from_a_kfp2_metrics_output(api: httpx.Client, tmp_path) -> None:
    kfp = pytest.importorskip("kfp")
    import yaml
    from kfp2_metrics_pipeline import scored

    path = tmp_path / "scored.yaml"
    kfp.compiler.Compiler().compile(scored, str(path))
    body = {"name": "scored", "pipeline_spec": {"pipeline_manifest": path.read_text()}}
    run_id = api.post("/runs", json=body).json()["run"]["id"]
    run = _wait(api, run_id)["run"]
    assert run["status"] == "Succeeded", run.get("error")
    assert run["metrics"] == [
        {"name": "accuracy", "node_id": "score", "number_value": 0.75, "format": "RAW"}
    ]
    assert yaml.safe_load(path.read_text())["pipelineInfo"]["name"] == "scored"
    flt = json.dumps({"predicates": [{"op": 1, "key": "name", "stringValue": "scored"}]})
    listed = api.get("/runs", params={"filter": flt}).json()["runs"]
    assert listed[0]["metrics"] == run["metrics"]


def test_v1_filter_values_become_ours() -> None:
    from pinnace.server.routes import fields
    from pinnace.server.wire import parse_filter
    from pinnace.server.wire_v1 import v1_filter
    from pinnace.stores.base import Predicate

    def read(**predicate: object) -> tuple[Predicate, ...]:
        text = json.dumps({"predicates": [predicate]})
        return parse_filter(v1_filter(text), fields.RUN, fields.RUN_TIMES)

    assert read(op=1, key="status", stringValue="Failed") == (
        Predicate("state", "in", ["FAILED", "CANCELED"]),
    )
    assert read(op=2, key="status", string_value="Running") == (
        Predicate("state", "ne", "RUNNING"),
    )
    assert read(op=1, key="storage_state", stringValue="STORAGESTATE_ARCHIVED") == (
        Predicate("storage_state", "eq", "ARCHIVED"),
    )
    assert read(op=1, key="name", stringValue="Failed") == (
        Predicate("display_name", "eq", "Failed"),
    )
