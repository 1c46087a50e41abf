"""pinnace.Client against a live Pinnace server: the same flows as kfp.Client."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
from server_support import live_server

from pinnace.client import Client, ClientError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pipelines"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    with live_server(tmp_path_factory.mktemp("home")) as live:
        yield Client(live.url, token=live.login())


def test_experiments_pipelines_and_a_run(client: Client, tmp_path: Path) -> None:
    exp = client.create_experiment("c-exp")
    assert client.create_experiment("c-exp")["experiment_id"] == exp["experiment_id"]
    pipeline = client.upload_pipeline(EXAMPLES / "basic_pipeline.yaml", pipeline_name="basic")
    version = client.upload_pipeline_version(
        EXAMPLES / "basic_pipeline.yaml", "v2", pipeline["pipeline_id"]
    )
    assert version["pipeline_id"] == pipeline["pipeline_id"]
    assert "basic" in [p["name"] for p in client.list_pipelines()["pipelines"]]
    from pinnace import dsl

    @dsl.component
    def double(n: int) -> int:
        return 2 * n

    @dsl.pipeline(name="doubler")
    def doubler(n: int = 2):
        double(n=n)

    run = client.create_run_from_pipeline_func(doubler, {"n": 4}, experiment_name="c-exp")
    done = client.wait_for_run_completion(run["run_id"], timeout=60, sleep_duration=0.2)
    assert done["state"] == "SUCCEEDED"
    listed = client.list_runs(experiment_id=exp["experiment_id"])
    assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]]


def test_errors_are_client_errors(client: Client) -> None:
    with pytest.raises(ClientError) as info:
        client.get_run("nope")
    assert info.value.status == 404 and info.value.code == 5
    with pytest.raises(ClientError) as info:
        Client(client.host, token="bad").list_runs()
    assert info.value.status == 401
