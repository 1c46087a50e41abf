"""The real kfp.Client (kfp 2.17.3): run details, pipeline updates and KFP's wire rules."""

# No `from __future__ import annotations`: kfp reads the components' real annotations.

import json
from pathlib import Path

import httpx
import pytest

kfp = pytest.importorskip("kfp")
import kfp_server_api  # noqa: E402
from kfp import compiler, dsl  # noqa: E402
from kfp.dsl import Dataset, Input, Output  # noqa: E402
from server_support import LiveServer  # noqa: E402


@dsl.component(install_kfp_package=False, base_image="python:3.11")
def write_text(text: str, out: Output[Dataset]):
    with open(out.path, "w") as f:
        f.write(text)


@dsl.component(install_kfp_package=False, base_image="python:3.11")
def read_text(data: Input[Dataset], suffix: str) -> str:
    with open(data.path) as f:
        return f.read() + suffix


@dsl.pipeline(name="passing")
def passing(text: str = "hi"):
    written = write_text(text=text)
    with dsl.ParallelFor(["!", "?"]) as suffix:
        read_text(data=written.outputs["out"], suffix=suffix)


@pytest.fixture(scope="module")
def client(server: LiveServer, admin_token: str) -> kfp.Client:
    return kfp.Client(host=server.url, existing_token=admin_token)


@pytest.fixture(scope="module")
def headers(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import yaml

    path = tmp_path_factory.mktemp("specs") / "passing.yaml"
    compiler.Compiler().compile(passing, str(path))
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def finished_run(client: kfp.Client) -> kfp_server_api.V2beta1Run:
    result = client.create_run_from_pipeline_func(passing, arguments={"text": "yo"})
    done = client.wait_for_run_completion(result.run_id, timeout=120, sleep_duration=0.2)
    assert done.state == "SUCCEEDED", done.error
    return done


def test_get_run_has_state_history_and_a_root_dag(finished_run: kfp_server_api.V2beta1Run):
    assert [s.state for s in finished_run.state_history] == ["PENDING", "RUNNING", "SUCCEEDED"]
    times = [s.update_time for s in finished_run.state_history]
    assert times == sorted(times)
    tasks = {t.task_id: t for t in finished_run.run_details.task_details}
    root = tasks["root"]
    assert root.state == "SUCCEEDED" and root.parent_task_id is None
    top = {c.task_id for c in root.child_tasks}
    assert {tasks[t].display_name for t in top} == {"write-text", "for-loop-2"}
    assert all(tasks[t].parent_task_id == "root" for t in top)


def test_tasks_link_parents_children_inputs_and_executions(
    finished_run: kfp_server_api.V2beta1Run,
):
    tasks = {t.task_id: t for t in finished_run.run_details.task_details}
    writer = next(t for t in tasks.values() if t.display_name == "write-text")
    loop = next(t for t in tasks.values() if t.display_name == "for-loop-2")
    produced = writer.outputs["out"].artifact_ids
    assert len(produced) == 1
    iterations = [tasks[c.task_id] for c in loop.child_tasks]
    assert len(iterations) == 2 and all(i.parent_task_id == loop.task_id for i in iterations)
    readers = [tasks[c.task_id] for i in iterations for c in i.child_tasks]
    assert len(readers) == 2
    for reader in readers:
        assert reader.inputs["data"].artifact_ids == produced
        assert reader.executor_detail.main_job == reader.execution_id
        assert [s.state for s in reader.state_history] == ["RUNNING", "SUCCEEDED"]
    assert writer.executor_detail.main_job == writer.execution_id
    assert not writer.executor_detail.failed_main_jobs


def test_update_pipeline_and_version_display_names(client: kfp.Client, spec: dict):
    api = client._pipelines_api
    pipeline = client.upload_pipeline_from_pipeline_func(passing, pipeline_name="to-rename")
    version = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions[0]
    renamed = api.pipeline_service_update_pipeline(
        pipeline.pipeline_id, kfp_server_api.V2beta1Pipeline(display_name="Renamed")
    )
    assert renamed.display_name == "Renamed" and renamed.name == "to-rename"
    assert client.get_pipeline(pipeline.pipeline_id).display_name == "Renamed"
    got = api.pipeline_service_update_pipeline_version(
        pipeline.pipeline_id,
        version.pipeline_version_id,
        kfp_server_api.V2beta1PipelineVersion(display_name="First"),
    )
    assert got.display_name == "First"
    stored = client.get_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    assert stored.display_name == "First" and stored.pipeline_spec == spec


def test_create_pipeline_and_version_in_one_call(client: kfp.Client, spec: dict):
    body = kfp_server_api.V2beta1CreatePipelineAndVersionRequest(
        pipeline=kfp_server_api.V2beta1Pipeline(name="both-at-once", description="d"),
        pipeline_version=kfp_server_api.V2beta1PipelineVersion(name="v1", pipeline_spec=spec),
    )
    pipeline = client._pipelines_api.pipeline_service_create_pipeline_and_version(body)
    assert pipeline.name == "both-at-once" and pipeline.description == "d"
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    assert [v.name for v in versions] == ["v1"]
    with pytest.raises(kfp_server_api.ApiException) as info:  # a host off the allowlist
        client._pipelines_api.pipeline_service_create_pipeline_and_version(
            kfp_server_api.V2beta1CreatePipelineAndVersionRequest(
                pipeline=kfp_server_api.V2beta1Pipeline(name="from-url"),
                pipeline_version=kfp_server_api.V2beta1PipelineVersion(
                    package_url=kfp_server_api.V2beta1Url(pipeline_url="https://x.test/p.yaml")
                ),
            )
        )
    assert info.value.status == 400 and "package_url" in json.loads(info.value.body)["message"]
    assert client.get_pipeline_id("from-url") is None


def test_delete_pipeline_with_versions_needs_cascade(client: kfp.Client):
    pipeline = client.upload_pipeline_from_pipeline_func(passing, pipeline_name="to-delete")
    with pytest.raises(kfp_server_api.ApiException) as info:
        client.delete_pipeline(pipeline.pipeline_id)
    assert (
        info.value.status == 400 and "cascade" in json.loads(info.value.body)["details"][0]["hint"]
    )
    assert client.get_pipeline(pipeline.pipeline_id).name == "to-delete"
    client._pipelines_api.pipeline_service_delete_pipeline(pipeline.pipeline_id, cascade=True)
    assert client.get_pipeline_id("to-delete") is None


def test_empty_lists_omit_zero_values(client: kfp.Client, server: LiveServer, headers):
    exp = client.create_experiment("empty-exp")
    url = f"{server.url}/apis/v2beta1/runs"
    answer = httpx.get(url, params={"experiment_id": exp.experiment_id}, headers=headers)
    assert answer.status_code == 200 and answer.json() == {}
    listed = client.list_runs(experiment_id=exp.experiment_id)
    assert listed.runs is None and not listed.total_size


def test_camel_case_bodies_are_accepted(server: LiveServer, headers, spec: dict):
    api = f"{server.url}/apis/v2beta1"
    exp = httpx.post(f"{api}/experiments", json={"displayName": "camel-exp"}, headers=headers)
    assert exp.status_code == 200, exp.text
    experiment_id = exp.json()["experiment_id"]
    body = {
        "displayName": "camel-run",
        "experimentId": experiment_id,
        "pipelineSpec": spec,
        "runtimeConfig": {"parameters": {"text": "camel"}},
    }
    run = httpx.post(f"{api}/runs", json=body, headers=headers)
    assert run.status_code == 200, run.text
    created = run.json()
    assert created["display_name"] == "camel-run" and created["experiment_id"] == experiment_id
    assert created["runtime_config"]["parameters"] == {"text": "camel"}
    both = httpx.post(
        f"{api}/experiments", json={"displayName": "a", "display_name": "b"}, headers=headers
    )
    assert both.status_code == 400


def test_upload_errors_use_the_upload_shape(client: kfp.Client, tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipelineInfo: {name: x}\nroot: 3\n")
    with pytest.raises(kfp_server_api.ApiException) as info:
        client.upload_pipeline(str(broken), pipeline_name="broken")
    body = json.loads(info.value.body)
    assert info.value.status == 400 and set(body) == {"error_message", "error_details"}
    assert body["error_message"] and body["error_details"].startswith(body["error_message"])


def test_upload_without_a_file_uses_the_upload_shape(server: LiveServer, headers):
    answer = httpx.post(f"{server.url}/apis/v2beta1/pipelines/upload", headers=headers)
    assert answer.status_code == 400 and "uploadfile" in answer.json()["error_message"]


def test_openapi_document_describes_the_kfp_routes(server: LiveServer):
    answer = httpx.get(f"{server.url}/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert (
        "/apis/v2beta1/runs" in paths and "patch" in paths["/apis/v2beta1/pipelines/{pipeline_id}"]
    )
    assert "/apis/v1beta1/runs" in paths and "/apis/v1beta1/jobs/{job_id}/enable" in paths
    assert not any(p.startswith("/apis/pinnace") for p in paths)
    body = answer.json()["components"]["schemas"]["RunBody"]["properties"]
    assert "pipeline_spec" in body  # snake_case, as KFP's own swagger
    errors = paths["/apis/v2beta1/runs"]["post"]["responses"]
    assert "422" not in errors and errors["default"]["content"]["application/json"]["schema"]
    upload = paths["/apis/v1beta1/pipelines/upload"]["post"]["responses"]["default"]
    assert upload["content"]["application/json"]["schema"]["$ref"].endswith("/UploadError")
    assert answer.json()["security"] == [{"bearer": []}]
    assert paths["/apis/v2beta1/healthz"]["get"]["security"] == []
