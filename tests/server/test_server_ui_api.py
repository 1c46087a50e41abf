"""The dashboard's endpoints (`/apis/pinnace/v1/ui/...`) against a live server and real runs."""

# No `from __future__ import annotations`: kfp reads the components' real annotations.

import json
import time
from pathlib import Path

import httpx
import pytest

kfp = pytest.importorskip("kfp")
from kfp import compiler, dsl  # noqa: E402
from kfp.dsl import Dataset, Input, Metrics, Output  # noqa: E402
from server_support import LiveServer  # noqa: E402

UI = "/apis/pinnace/v1/ui"


@dsl.component
def make_table(rows: int, table: Output[Dataset]):
    with open(table.path, "w") as f:
        f.write("id,square\n")
        for i in range(rows):
            f.write(f"{i},{i * i}\n")


@dsl.component
def score(table: Input[Dataset], metrics: Output[Metrics]) -> int:
    with open(table.path) as f:
        count = len(f.readlines()) - 1
    metrics.log_metric("rows", count)
    metrics.log_metric("accuracy", 0.9)
    return count


@dsl.component
def chatty(lines: int):
    import time

    for i in range(lines):
        print(f"line {i:06d} " + "x" * 90, flush=True)
    time.sleep(1.5)  # keeps the run going while the event stream watches
    print("done", flush=True)


@dsl.component
def square(x: int) -> int:
    return x * x


@dsl.pipeline(name="ui-demo")
def ui_demo(rows: int = 150, lines: int = 3000):
    table = make_table(rows=rows)
    counted = score(table=table.outputs["table"])
    chatty(lines=lines)
    with dsl.If(counted.outputs["Output"] > 1000):
        square(x=1)
    with dsl.ParallelFor([1, 2]) as item:
        square(x=item)


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import yaml

    path = tmp_path_factory.mktemp("specs") / "ui_demo.yaml"
    compiler.Compiler().compile(ui_demo, str(path))
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def run_id(server: LiveServer, admin_token: str, spec: dict) -> str:
    response = httpx.post(
        server.url + "/apis/v2beta1/runs",
        json={"display_name": "ui-run", "pipeline_spec": spec},
        headers=h(admin_token),
    )
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def wait_done(server: LiveServer, token: str, run_id: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = httpx.get(f"{server.url}/apis/v2beta1/runs/{run_id}", headers=h(token)).json()
        if state["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return state["state"]
        time.sleep(0.1)
    raise AssertionError("the run did not finish")


def read_sse(response: httpx.Response) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_event_stream_follows_a_running_run_and_ends(
    server: LiveServer, admin_token: str, run_id: str
) -> None:
    url = f"{server.url}{UI}/runs/{run_id}/events"
    with httpx.stream("GET", url, headers=h(admin_token), timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_sse(response)
    assert events[-1] == ("end", {"state": "SUCCEEDED"})
    tasks = [t for name, e in events if name == "tasks" for t in e["tasks"]]
    chatty_states = [t["state"] for t in tasks if t["id"] == "chatty"]
    assert "RUNNING" in chatty_states and chatty_states[-1] == "SUCCEEDED"
    run_states = [e["state"] for name, e in events if name == "run"]
    assert run_states[-1] == "SUCCEEDED" and len(run_states) >= 2


def test_graph_has_groups_edges_and_states(
    server: LiveServer, admin_token: str, run_id: str
) -> None:
    assert wait_done(server, admin_token, run_id) == "SUCCEEDED"
    graph = httpx.get(f"{server.url}{UI}/runs/{run_id}/graph", headers=h(admin_token)).json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["make-table"]["kind"] == "task" and nodes["make-table"]["state"] == "SUCCEEDED"
    assert nodes["make-table"]["duration"] >= 0
    assert ["make-table", "score"] in graph["edges"]
    assert ["score", "condition-1"] in graph["edges"]
    assert nodes["condition-1"]["kind"] == "group" and nodes["condition-1"]["state"] == "SKIPPED"
    assert nodes["condition-1/square"]["parent"] == "condition-1"
    assert nodes["condition-1/square"]["state"] == "SKIPPED"
    loop = [n for n in nodes if n.startswith("for-loop-")]
    loop_path = min(loop, key=len)
    assert nodes[f"{loop_path}[1]"]["parent"] == loop_path
    assert nodes[f"{loop_path}[1]/square-2"]["parent"] == f"{loop_path}[1]"
    assert nodes[f"{loop_path}[1]/square-2"]["state"] in ("SUCCEEDED", "CACHED")


def test_task_details_inputs_outputs_and_attempts(
    server: LiveServer, admin_token: str, run_id: str
) -> None:
    wait_done(server, admin_token, run_id)
    url = f"{server.url}{UI}/runs/{run_id}/tasks/score"
    details = httpx.get(url, headers=h(admin_token)).json()
    assert details["component"] == "comp-score"
    assert details["container"]["image"].startswith("python")
    assert details["container"]["command"]
    assert details["attempts"][0]["exit_code"] == 0
    assert details["inputs"]["artifacts"]["table"][0]["type"] == "system.Dataset"
    assert details["outputs"]["parameters"]["Output"] == 150
    metrics = details["outputs"]["artifacts"]["metrics"][0]
    assert metrics["type"] == "system.Metrics" and metrics["metadata"]["accuracy"] == 0.9
    assert metrics["artifact_id"]
    nested = httpx.get(
        f"{server.url}{UI}/runs/{run_id}/tasks/condition-1/square", headers=h(admin_token)
    )
    assert nested.status_code == 200 and nested.json()["state"] == "SKIPPED"
    missing = httpx.get(f"{server.url}{UI}/runs/{run_id}/tasks/nope", headers=h(admin_token))
    assert missing.status_code == 404


def test_log_tail_of_a_big_log_is_truncated(
    server: LiveServer, admin_token: str, run_id: str
) -> None:
    wait_done(server, admin_token, run_id)
    url = f"{server.url}{UI}/runs/{run_id}/tasks/chatty/logs"
    tail = httpx.get(url, headers=h(admin_token)).json()
    assert tail["truncated"] is True and tail["size"] > 64 * 1024
    assert len(tail["text"].encode()) <= 64 * 1024
    assert tail["text"].startswith("line ") and "done" in tail["text"]
    small = httpx.get(url, params={"tail_bytes": 500}, headers=h(admin_token)).json()
    assert len(small["text"]) <= 500 and small["truncated"]
    full = httpx.get(url, params={"download": 1}, headers=h(admin_token))
    assert full.headers["content-type"].startswith("text/plain")
    assert full.headers["content-disposition"].startswith("attachment")
    assert len(full.content) == tail["size"] and "line 000000" in full.text
    with httpx.stream("GET", url + "/stream", headers=h(admin_token), timeout=30) as response:
        events = read_sse(response)
    assert events[0][0] == "tail" and events[-1] == ("end", {"state": "SUCCEEDED"})


def _artifact(server: LiveServer, token: str, run_id: str, type_: str) -> dict:
    listed = httpx.get(
        f"{server.url}{UI}/artifacts", params={"run_id": run_id, "type": type_}, headers=h(token)
    ).json()
    assert listed["total_size"] == 1, listed
    return listed["artifacts"][0]


def test_csv_preview_download_and_lineage(
    server: LiveServer, admin_token: str, run_id: str
) -> None:
    wait_done(server, admin_token, run_id)
    dataset = _artifact(server, admin_token, run_id, "Dataset")
    url = f"{server.url}{UI}/artifacts/{dataset['artifact_id']}"
    preview = httpx.get(url + "/preview", headers=h(admin_token)).json()
    assert preview["kind"] == "table" and preview["columns"] == ["id", "square"]
    assert len(preview["rows"]) == 100 and preview["rows"][3] == ["3", "9"]
    assert preview["more_rows"] is True
    download = httpx.get(url + "/download", headers=h(admin_token))
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.text.count("\n") == 151
    lineage = httpx.get(url + "/lineage", headers=h(admin_token)).json()
    assert lineage["producer"]["task"] == "make-table"
    assert [c["task"] for c in lineage["consumers"]] == ["score"]
    metrics = _artifact(server, admin_token, run_id, "system.Metrics")
    assert metrics["metadata"]["rows"] == 150
    by_run = httpx.get(
        f"{server.url}{UI}/metrics", params={"run_ids": f"{run_id},nope"}, headers=h(admin_token)
    ).json()["runs"]
    assert by_run == {run_id: {"rows": 150, "accuracy": 0.9}}
    executions = httpx.get(
        f"{server.url}{UI}/executions",
        params={"run_id": run_id, "task": "score"},
        headers=h(admin_token),
    ).json()
    assert [e["state"] for e in executions["executions"]] == ["SUCCEEDED"]


def test_previews_of_images_svg_and_json(server: LiveServer, admin_token: str, run_id: str) -> None:
    wait_done(server, admin_token, run_id)
    from pinnace.server.services.ui_files import _classify

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    assert _classify(png, "system.Artifact", "/a/x", False)["kind"] == "image"
    assert _classify(b"<svg onload='x'/>", "system.Artifact", "/a/x", False)["kind"] == "svg"
    assert _classify(b'{"a": 1}', "system.Artifact", "/a/x", False)["value"] == {"a": 1}
    assert _classify(b"<h1>x</h1>", "system.HTML", "/a/x", False)["kind"] == "html"
    assert _classify(b"plain words", "system.Artifact", "/a/x", False)["kind"] == "text"
    # a PNG artifact is served inline as an image; anything else only as an attachment
    store = server.app.state.ctx.backend
    dataset = _artifact(server, admin_token, run_id, "Dataset")
    path = store.artifacts.local_path(dataset["uri"])
    original = path.read_bytes()
    try:
        path.write_bytes(png)
        url = f"{server.url}{UI}/artifacts/{dataset['artifact_id']}"
        content = httpx.get(url + "/content", headers=h(admin_token))
        assert content.headers["content-type"] == "image/png"
        assert content.headers["x-content-type-options"] == "nosniff"
        path.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>")
        content = httpx.get(url + "/content", headers=h(admin_token))
        assert content.headers["content-type"] == "application/octet-stream"
        assert content.headers["content-disposition"].startswith("attachment")
        assert httpx.get(url + "/preview", headers=h(admin_token)).json()["kind"] == "svg"
    finally:
        path.write_bytes(original)


def test_auth_namespaces_and_hostile_ids(server: LiveServer, admin_token: str, run_id: str) -> None:
    wait_done(server, admin_token, run_id)
    mallory = server.add_user("mallory")
    dataset = _artifact(server, admin_token, run_id, "Dataset")
    paths = [
        f"/runs/{run_id}/graph",
        f"/runs/{run_id}/events",
        f"/runs/{run_id}/tasks/score",
        f"/runs/{run_id}/tasks/chatty/logs",
        f"/runs/{run_id}/tasks/chatty/logs/stream",
        f"/artifacts/{dataset['artifact_id']}/preview",
        f"/artifacts/{dataset['artifact_id']}/download",
        f"/artifacts/{dataset['artifact_id']}/lineage",
        f"/artifacts/{dataset['artifact_id']}/render",
        f"/runs/{run_id}/config",
    ]
    # The admin's read puts the run's spec in the server's cache: it must not leak from there.
    warm = httpx.get(f"{server.url}{UI}/runs/{run_id}/tasks/score", headers=h(admin_token))
    assert warm.status_code == 200
    for path in paths:
        assert httpx.get(server.url + UI + path).status_code == 401, path
        assert httpx.get(server.url + UI + path, headers=h(mallory)).status_code == 404, path
    assert httpx.get(server.url + UI + "/artifacts", headers=h(mallory)).json()["total_size"] == 0
    for run in ("..", "%2e%2e", "x' OR 1=1--"):
        response = httpx.get(f"{server.url}{UI}/runs/{run}/graph", headers=h(admin_token))
        assert response.status_code == 404, run
    hostile = [
        f"/runs/{run_id}/tasks/../../etc/passwd/logs",
        f"/runs/{run_id}/tasks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/logs",
        "/artifacts/..%2f..%2fetc%2fpasswd/preview",
        "/artifacts/%2Fetc%2Fpasswd/download",
    ]
    for path in hostile:
        response = httpx.get(server.url + UI + path, headers=h(admin_token))
        assert response.status_code == 404, (path, response.text)
        assert "root:" not in response.text


def test_a_log_outside_the_log_folder_is_refused(
    server: LiveServer, admin_token: str, run_id: str, tmp_path: Path
) -> None:
    wait_done(server, admin_token, run_id)
    store = server.app.state.ctx.backend.metadata
    task = next(t for t in store.list_tasks(run_id) if t.task_name == "make-table")
    outside = tmp_path / "secret.log"
    outside.write_text("secret")
    original = task.log_path
    task.log_path = str(outside)
    store.upsert_task(task)
    try:
        url = f"{server.url}{UI}/runs/{run_id}/tasks/make-table/logs"
        response = httpx.get(url, headers=h(admin_token))
        assert response.status_code == 503 and "secret" not in response.text
    finally:
        task.log_path = original
        store.upsert_task(task)


def test_graph_labels_artifact_nodes_lineage_and_config(
    server: LiveServer, admin_token: str, run_id: str, spec: dict
) -> None:
    wait_done(server, admin_token, run_id)
    base = f"{server.url}{UI}/runs/{run_id}"
    graph = httpx.get(f"{base}/graph", params={"artifacts": 1}, headers=h(admin_token)).json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["condition-1"]["label"] == "if score > 1000"
    assert nodes["condition-1"]["group"] == "condition"
    loop = next(n for n in nodes.values() if n.get("group") == "loop")
    assert loop["label"] == "for each in [1, 2]"
    items = sorted(n["label"] for n in nodes.values() if n.get("group") == "iteration")
    assert items == ["#0: 1", "#1: 2"]
    assert nodes["make-table::table"]["kind"] == "artifact"
    assert ["make-table", "make-table::table"] in graph["edges"]
    assert ["make-table::table", "score"] in graph["edges"]
    assert ["make-table", "score"] not in graph["edges"]  # drawn through the artifact
    skipped = httpx.get(f"{base}/tasks/condition-1", headers=h(admin_token)).json()
    assert skipped["error"] == "not run: the condition score > 1000 was false"
    iteration = next(n["id"] for n in nodes.values() if n.get("group") == "iteration")
    inside = httpx.get(f"{base}/tasks/{iteration}", headers=h(admin_token)).json()
    assert "item" in inside["inputs"]["parameters"], inside["inputs"]
    config = httpx.get(f"{base}/config", headers=h(admin_token)).json()
    assert config["declared"]["rows"]["default"] == 150
    assert {t["task"] for t in config["tasks"]} >= {"make-table", "score", "chatty"}
    dataset = _artifact(server, admin_token, run_id, "Dataset")
    url = f"{server.url}{UI}/artifacts/{dataset['artifact_id']}"
    lineage = httpx.get(url + "/lineage", headers=h(admin_token)).json()
    ids = {n["id"] for n in lineage["nodes"]}
    assert {"task:make-table", "task:score"} <= ids
    # two hops downstream: the dataset → score → score's metrics artifact
    metrics = _artifact(server, admin_token, run_id, "system.Metrics")
    assert f"art:{metrics['uri']}" in ids
    assert ["task:score", f"art:{metrics['uri']}"] in lineage["edges"]
    refused = httpx.get(url + "/render", headers=h(admin_token))
    assert refused.status_code == 400, refused.text  # a CSV is not a page
    assert (
        httpx.get(f"{server.url}{UI}/artifacts/nope/preview", headers=h(admin_token)).status_code
        == 404
    )


def test_version_graph_inspect_and_namespaces(
    server: LiveServer, admin_token: str, spec: dict
) -> None:
    files = {"uploadfile": ("whatever-file.json", json.dumps(spec).encode())}
    info = httpx.post(
        f"{server.url}{UI}/pipelines/inspect", files=files, headers=h(admin_token)
    ).json()
    assert info["name"] == "ui-demo"
    uploaded = httpx.post(
        f"{server.url}/apis/v2beta1/pipelines/upload",
        params={"name": "graph-labels"},
        files=files,
        headers=h(admin_token),
    ).json()
    versions = httpx.get(
        f"{server.url}/apis/v2beta1/pipelines/{uploaded['pipeline_id']}/versions",
        headers=h(admin_token),
    ).json()["pipeline_versions"]
    graph = httpx.get(
        f"{server.url}{UI}/pipelines/{uploaded['pipeline_id']}/versions/"
        f"{versions[0]['pipeline_version_id']}/graph",
        headers=h(admin_token),
    ).json()
    labels = {n["id"]: n["label"] for n in graph["nodes"]}
    assert labels["condition-1"] == "if score > 1000"
    assert ["make-table", "score"] in graph["edges"]
    found = httpx.get(f"{server.url}{UI}/namespaces", headers=h(admin_token)).json()
    assert isinstance(found["namespaces"], list)


def test_run_page_read_is_the_run_without_spec_or_details(
    server: LiveServer, admin_token: str, run_id: str
) -> None:
    wait_done(server, admin_token, run_id)
    full = httpx.get(f"{server.url}/apis/v2beta1/runs/{run_id}", headers=h(admin_token)).json()
    light = httpx.get(f"{server.url}{UI}/runs/{run_id}", headers=h(admin_token)).json()
    assert full["pipeline_spec"]["pipelineInfo"]["name"] == "ui-demo"  # KFP's shape kept
    assert "task_details" in full["run_details"]
    assert "pipeline_spec" not in light and "run_details" not in light
    for key in ("run_id", "display_name", "state", "runtime_config", "created_at", "finished_at"):
        assert light[key] == full[key], key
    assert httpx.get(f"{server.url}{UI}/runs/{run_id}").status_code == 401
    assert httpx.get(f"{server.url}{UI}/runs/nope", headers=h(admin_token)).status_code == 404
