"""The real kfp.Client (kfp 2.17.3) against a live Pinnace server: the core flows."""

# No `from __future__ import annotations`: kfp reads the components' real annotations.

import json
from pathlib import Path

import pytest
import yaml

kfp = pytest.importorskip("kfp")
from kfp import compiler, dsl  # noqa: E402
from server_support import LiveServer  # noqa: E402

from pinnace.backend import open_backend  # noqa: E402

EXAMPLES = Path(__file__).parents[2] / "examples"
ENV_FIXTURES = Path(__file__).parents[1] / "fixtures" / "envs"


@dsl.component(install_kfp_package=False, base_image="python:3.11")
def add(a: int, b: int) -> int:
    return a + b


@dsl.component(install_kfp_package=False, base_image="python:3.11")
def fail(message: str):
    raise RuntimeError(message)


@dsl.pipeline(name="adder")
def adder(x: int = 1) -> int:
    first = add(a=x, b=2)
    return add(a=first.output, b=3).output


@dsl.pipeline(name="failing")
def failing(message: str = "boom"):
    fail(message=message)


@pytest.fixture(scope="module")
def client(server: LiveServer, admin_token: str) -> kfp.Client:
    return kfp.Client(host=server.url, existing_token=admin_token)


@pytest.fixture(scope="module")
def adder_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("specs") / "adder.yaml"
    compiler.Compiler().compile(adder, str(path))
    return path


def test_create_experiment_is_idempotent_by_name(client: kfp.Client) -> None:
    first = client.create_experiment("exp-a", description="first")
    again = client.create_experiment("exp-a")
    assert first.experiment_id == again.experiment_id
    assert first.display_name == "exp-a" and first.storage_state == "AVAILABLE"
    names = [e.display_name for e in client.list_experiments(page_size=100).experiments]
    assert "exp-a" in names


def test_upload_kfp2_and_kfp1_specs_and_versions(client: kfp.Client, adder_yaml: Path) -> None:
    pipeline = client.upload_pipeline(str(adder_yaml), pipeline_name="adder-pipe")
    assert pipeline.display_name == "adder-pipe"
    argo = client.upload_pipeline(str(EXAMPLES / "basic_pipeline.yaml"), pipeline_name="basic-v1")
    version = client.upload_pipeline_version(
        str(adder_yaml), pipeline_version_name="v2", pipeline_id=pipeline.pipeline_id
    )
    assert version.pipeline_id == pipeline.pipeline_id and version.display_name == "v2"
    listed = client.list_pipelines(page_size=100).pipelines
    assert {"adder-pipe", "basic-v1"} <= {p.display_name for p in listed}
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    assert [v.display_name for v in versions] == ["v2", "adder-pipe"]
    assert client.get_pipeline_id("basic-v1") == argo.pipeline_id
    stored = client.get_pipeline_version(pipeline.pipeline_id, version.pipeline_version_id)
    assert stored.pipeline_spec["pipelineInfo"]["name"] == "adder"
    with pytest.raises(kfp_server_api_exception()) as info:
        client.upload_pipeline(str(adder_yaml), pipeline_name="adder-pipe")
    assert info.value.status == 409


def kfp_server_api_exception() -> type[Exception]:
    import kfp_server_api

    return kfp_server_api.ApiException


def test_run_from_package_and_func_succeed(client: kfp.Client, adder_yaml: Path) -> None:
    exp = client.create_experiment("exp-runs")
    result = client.create_run_from_pipeline_package(
        str(adder_yaml), arguments={"x": 5}, run_name="pkg-run", experiment_name="exp-runs"
    )
    func_result = client.create_run_from_pipeline_func(
        adder, arguments={"x": 10}, run_name="func-run", experiment_id=exp.experiment_id
    )
    for run_id in (result.run_id, func_result.run_id):
        done = client.wait_for_run_completion(run_id, timeout=60, sleep_duration=0.2)
        assert done.state == "SUCCEEDED", done.error
    run = client.get_run(result.run_id)
    assert run.display_name == "pkg-run" and run.experiment_id == exp.experiment_id
    assert run.runtime_config.parameters == {"x": 5}
    tasks = run.run_details.task_details
    assert [t.state for t in tasks] == ["SUCCEEDED"] * 3  # the root DAG and its two tasks
    assert run.finished_at >= run.created_at


def test_run_from_uploaded_version(client: kfp.Client) -> None:
    pipeline_id = client.get_pipeline_id("adder-pipe")
    versions = client.list_pipeline_versions(pipeline_id).pipeline_versions
    run = client.run_pipeline(
        experiment_id=client.get_experiment(experiment_name="exp-a").experiment_id,
        job_name="from-version",
        params={"x": 1},
        pipeline_id=pipeline_id,
        version_id=versions[0].pipeline_version_id,
    )
    done = client.wait_for_run_completion(run.run_id, timeout=60, sleep_duration=0.2)
    assert done.state == "SUCCEEDED"
    assert done.pipeline_version_reference.pipeline_id == pipeline_id


def test_kfp1_argo_upload_runs(client: kfp.Client, server: LiveServer, tmp_path: Path) -> None:
    """A workflow kfp 1.8 compiled (Argo YAML), uploaded, runs: its `add` step adds the run's
    parameters. (The fixture's other steps install packages: they are left out here.)"""
    workflow = yaml.safe_load((ENV_FIXTURES / "kfp1_workflow.yaml").read_text())
    spec = workflow["spec"]
    spec["templates"] = [t for t in spec["templates"] if t["name"] not in ("train", "write-data")]
    for template in spec["templates"]:
        if "dag" in template:
            template["dag"]["tasks"] = [t for t in template["dag"]["tasks"] if t["name"] == "add"]
    path = tmp_path / "add-v1.yaml"
    path.write_text(yaml.safe_dump(workflow))
    pipeline = client.upload_pipeline(str(path), pipeline_name="add-v1")
    versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
    run = client.run_pipeline(
        experiment_id=client.create_experiment("exp-argo").experiment_id,
        job_name="argo-run",
        params={"a": 1.5, "b": 2.25},
        pipeline_id=pipeline.pipeline_id,
        version_id=versions[0].pipeline_version_id,
    )
    done = client.wait_for_run_completion(run.run_id, timeout=120, sleep_duration=0.2)
    assert done.state == "SUCCEEDED", done.error
    backend = open_backend(server.settings, settle=False)
    try:
        (add,) = [t for t in backend.metadata.list_tasks(run.run_id) if t.task_name == "add"]
    finally:
        backend.close()
    # kfp 1.x outputs are files: the step wrote the sum to its Output file
    (output,) = add.outputs["artifacts"]["Output"]
    assert float(Path(output["uri"]).read_text()) == 3.75


def test_list_runs_filters_sorts_and_pages(client: kfp.Client, adder_yaml: Path) -> None:
    exp = client.create_experiment("exp-list")
    ids = [
        client.create_run_from_pipeline_package(
            str(adder_yaml),
            arguments={"x": i},
            run_name=f"list-{i}",
            experiment_id=exp.experiment_id,
        ).run_id
        for i in range(3)
    ]
    for run_id in ids:
        client.wait_for_run_completion(run_id, timeout=60, sleep_duration=0.2)
    first = client.list_runs(
        experiment_id=exp.experiment_id, page_size=2, sort_by="created_at desc"
    )
    assert first.total_size == 3 and [r.display_name for r in first.runs] == ["list-2", "list-1"]
    second = client.list_runs(
        experiment_id=exp.experiment_id,
        page_size=2,
        page_token=first.next_page_token,
        sort_by="created_at desc",
    )
    assert [r.display_name for r in second.runs] == ["list-0"] and not second.next_page_token
    only = client.list_runs(
        experiment_id=exp.experiment_id,
        filter=json.dumps(
            {"predicates": [{"operation": 1, "key": "display_name", "stringValue": "list-1"}]}
        ),
    )
    assert [r.run_id for r in only.runs] == [ids[1]]


def test_failed_run_terminate_retry_archive_delete(client: kfp.Client, server: LiveServer) -> None:
    import kfp_server_api

    result = client.create_run_from_pipeline_func(
        failing, arguments={"message": "nope"}, run_name="will-fail"
    )
    done = client.wait_for_run_completion(result.run_id, timeout=60, sleep_duration=0.2)
    assert done.state == "FAILED" and "nope" in done.run_details.task_details[0].error.message
    api = client._run_api
    api.run_service_retry_run(result.run_id)
    # The retry starts in the background; the run reads FAILED until its driver picks it up.
    server.app.state.ctx.manager.wait(result.run_id, timeout=60)
    done = client.wait_for_run_completion(result.run_id, timeout=60, sleep_duration=0.2)
    assert done.state == "FAILED"
    api.run_service_archive_run(result.run_id)
    assert client.get_run(result.run_id).storage_state == "ARCHIVED"
    api.run_service_unarchive_run(result.run_id)
    assert client.get_run(result.run_id).storage_state == "AVAILABLE"
    api.run_service_terminate_run(result.run_id)  # a finished run: nothing to do
    api.run_service_delete_run(result.run_id)
    with pytest.raises(kfp_server_api.ApiException) as info:
        client.get_run(result.run_id)
    assert info.value.status == 404
    assert json.loads(info.value.body)["code"] == 5


def test_experiment_archive_archives_its_runs(client: kfp.Client, adder_yaml: Path) -> None:
    exp = client.create_experiment("exp-archive")
    run = client.create_run_from_pipeline_package(
        str(adder_yaml), arguments={"x": 1}, experiment_id=exp.experiment_id
    )
    client.wait_for_run_completion(run.run_id, timeout=60, sleep_duration=0.2)
    client.archive_experiment(exp.experiment_id)
    assert client.get_experiment(exp.experiment_id).storage_state == "ARCHIVED"
    assert client.get_run(run.run_id).storage_state == "ARCHIVED"
    client.unarchive_experiment(exp.experiment_id)
    client.delete_experiment(exp.experiment_id)
