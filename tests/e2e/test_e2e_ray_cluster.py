"""Beyond one machine, for real: a Ray cluster of a head and two workers with different
resources, artifacts in S3 (moto on loopback), metadata in PostgreSQL.

A 200-task fan-out runs across both workers; a worker killed while it runs a task fails that
attempt, the task is retried on the other worker and the run succeeds, with nothing of the
dead attempt left running; tasks land on the node their accelerator or node selector names;
a request no node can satisfy fails at once with a clear reason; the book's pipeline runs
through `pinnace run --executor ray` (it builds scikit-learn environments: index marker).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from e2e_support import EXAMPLES, clean_env, pinnace

from pinnace import dsl, kubernetes
from pinnace.api import run as run_pipeline
from pinnace.settings import Settings
from pinnace.stores import open_artifact_store, open_metadata_store

FAN_OUT = 200


@dsl.component
def square(i: int, out: dsl.Output[dsl.Dataset]) -> int:
    with open(out.path, "w") as f:
        f.write(str(i * i))
    return i * i


@dsl.component
def total(values: list) -> int:
    return sum(values)


@dsl.pipeline(name="ray-fan-out")
def fan_out():
    with dsl.ParallelFor(list(range(FAN_OUT))) as i:
        task = square(i=i)
        task.set_cpu_limit("0.5")
    total(values=dsl.Collected(task.outputs["Output"]))


@dsl.component
def slow_step(marker: str, seconds: float) -> str:
    import os
    import time

    # the first attempt announces itself and waits to be killed with its node
    first = not os.path.exists(marker)
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")
    if first:
        time.sleep(seconds)
    return "done"


@dsl.pipeline(name="ray-survivor")
def survivor(marker: str, seconds: float = 120.0):
    slow_step(marker=marker, seconds=seconds).set_retry(2, backoff_duration="0s")


@dsl.component
def where(salt: str, place: str) -> str:
    import os

    return os.environ.get("CUDA_VISIBLE_DEVICES", "")


@dsl.pipeline(name="ray-placement")
def placement(salt: str = ""):
    # distinct inputs: no task reuses another's cached outputs
    gpu = where(salt=salt, place="gpu")
    gpu.set_accelerator_type("NVIDIA_TESLA_T4").set_accelerator_limit(1)
    kubernetes.add_node_selector(where(salt=salt, place="cpu"), "pool", "cpu")  # kfp-kubernetes
    where(salt=salt, place="env").set_env_variable("PINNACE_NODE_SELECTOR_POOL", "gpu")


@dsl.pipeline(name="ray-infeasible")
def infeasible():
    where(salt="", place="tpu").set_accelerator_type("TPU_V4").set_accelerator_limit(8)


@pytest.fixture(scope="module")
def settings(ray_cluster, s3, postgresql_url, tmp_path_factory) -> Settings:
    return Settings.load(
        env={},
        home=tmp_path_factory.mktemp("driver-home"),
        database_url=postgresql_url,
        artifact_root=s3.root("ray-e2e"),
        executor="ray",
        ray_address=ray_cluster.address,
        ray_node_ip="127.0.0.2",
        use_current_python=True,
    )


def executions_of(settings: Settings, run_id: str) -> list[Any]:
    store = open_metadata_store(settings.database_url)
    try:
        return store.list_executions(run_id)
    finally:
        store.close()


def test_a_200_task_fan_out_runs_across_both_workers(settings, ray_cluster) -> None:
    result = run_pipeline(fan_out, settings=settings)
    assert result.state == "SUCCEEDED", result.error
    assert result.task("total").outputs["Output"] == sum(i * i for i in range(FAN_OUT))
    executions = executions_of(settings, result.run_id)
    assert len(executions) == FAN_OUT + 1
    nodes = Counter(ray_cluster.name_of(e.environment["ray_node"]) for e in executions)
    assert set(nodes) == {"gpu", "cpu"}, nodes  # the head has no CPUs
    # the artifacts are objects in S3, committed with their markers
    store = open_artifact_store(settings.artifact_root)
    square_7 = next(t for t in result.tasks if t.name.endswith("[7]/square"))
    uri = square_7.outputs["out"]
    assert uri.startswith("s3://")
    with store.open(uri) as f:
        assert f.read() == b"49"


def test_a_killed_worker_fails_its_attempt_and_the_retry_succeeds_elsewhere(
    settings, ray_cluster, tmp_path
) -> None:
    from pinnace.executors._supervision import kill_leftover

    marker = tmp_path / "started"
    outcome: dict[str, Any] = {}
    driver = threading.Thread(
        target=lambda: outcome.update(
            result=run_pipeline(survivor, {"marker": str(marker)}, settings=settings)
        )
    )
    driver.start()
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert time.monotonic() < deadline and driver.is_alive(), outcome
        time.sleep(0.2)
    # the running attempt's node, as the metadata store recorded it
    run_id = _latest_run_id(settings, "ray-survivor")
    first = _running_execution(settings, run_id)
    victim = ray_cluster.name_of(first.process["ray_node"])
    ray_cluster.nodes[victim].kill()
    driver.join(300)
    try:
        result = outcome["result"]
        assert result.state == "SUCCEEDED", result.error
        executions = executions_of(settings, run_id)
        assert len(executions) == 2
        failed, retried = executions
        assert "node" in (failed.error or "") and "died" in (failed.error or ""), failed.error
        assert ray_cluster.name_of(retried.environment["ray_node"]) != victim
        # nothing of the dead attempt runs on: the attempt never ran twice at once
        assert kill_leftover({**failed.process, "host": None}) == 0
        pids = marker.read_text().split()
        assert len(pids) == 2
        assert not _running(int(pids[0]))
    finally:
        ray_cluster.restart(victim)


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _latest_run_id(settings: Settings, pipeline_name: str) -> str:
    """The newest run of `pipeline_name` (the session's database holds other tests' runs)."""
    store = open_metadata_store(settings.database_url)
    try:
        runs = [r for r in store.list_runs(limit=10_000) if r.pipeline_name == pipeline_name]
        return max(runs, key=lambda r: r.created_at).run_id
    finally:
        store.close()


def _running_execution(settings: Settings, run_id: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for execution in executions_of(settings, run_id):
            if execution.process and execution.process.get("ray_node"):
                return execution
        time.sleep(0.2)
    pytest.fail("the attempt's process was never recorded")


def test_tasks_land_where_their_accelerator_or_node_selector_says(settings, ray_cluster) -> None:
    result = run_pipeline(placement, settings=settings, cache=False)
    assert result.state == "SUCCEEDED", result.error
    by_task = {e.task_name: e for e in executions_of(settings, result.run_id)}
    node = {name: ray_cluster.name_of(e.environment["ray_node"]) for name, e in by_task.items()}
    assert node == {"where": "gpu", "where-2": "cpu", "where-3": "gpu"}
    assert result.task("where").outputs["Output"] == "0"  # the GPU Ray assigned it
    assert result.task("where-2").outputs["Output"] == ""  # no GPU asked, none visible


def test_a_request_no_node_can_satisfy_fails_at_once(settings) -> None:
    result = run_pipeline(infeasible, settings=settings)
    assert result.state == "FAILED"
    error = result.task("where").error
    assert "no node of the Ray cluster can ever run it" in error
    assert "TPU_V4=8" in error


@pytest.mark.index
def test_the_book_pipeline_runs_on_the_cluster(settings, ray_cluster, s3, tmp_path) -> None:
    env = clean_env(
        **s3.env,
        PINNACE_DATABASE_URL=settings.database_url,
        PINNACE_ARTIFACT_ROOT=settings.artifact_root,
        PINNACE_RAY_NODE_IP="127.0.0.2",
    )
    result = pinnace(
        tmp_path,
        "run",
        EXAMPLES / "basic_pipeline.py",
        "--executor",
        "ray",
        "--ray-address",
        ray_cluster.address,
        "--json",
        env=env,
    )
    assert result.returncode == 0, result.describe()
    document = result.json()
    assert document["state"] == "SUCCEEDED"
    # the book's R2 score, computed on a Ray worker, its log streamed back to this machine
    logs = pinnace(tmp_path, "logs", document["run_id"], "evaluate-model", env=env)
    assert logs.returncode == 0, logs.describe()
    assert "0.7747925" in logs.stdout


def test_sandboxed_steps_cannot_see_the_nodes_home(ray_cluster, tmp_path) -> None:
    """A server sandboxes steps; on Ray the node's sandbox hides the node's Pinnace home."""
    from pinnace.executors.base import TaskLaunch
    from pinnace.executors.ray import RayExecutor

    node_home = ray_cluster.temp_dir / "node-home"
    store = open_artifact_store(str(tmp_path / "artifacts"))
    script = f'if [ -e "{node_home}/logs" ]; then echo visible; else echo hidden; fi > "$0"'
    launch = TaskLaunch(
        run_id="sandboxed",
        task_name="peek",
        execution_id="peek-1",
        image="alpine",
        command=("sh", "-c", script),
        args=("{{$.outputs.parameters['out'].output_file}}",),
        executor_input={
            "inputs": {},
            "outputs": {
                "parameters": {"out": {"outputFile": "outputs/parameters/out"}},
                "outputFile": "executor_output.json",
            },
        },
        artifact_root=store.root,
        log_path=tmp_path / "peek.log",
    )
    seen = {}
    for sandbox in (False, True):
        executor = RayExecutor(
            address=ray_cluster.address,
            artifact_root=store.root,
            sandbox=sandbox,
            node_ip_address="127.0.0.2",
        )
        try:
            outcome = executor.submit(launch).result(timeout=120)
        finally:
            executor.close()
        assert outcome.ok, (outcome.error, launch.log_path.read_text())
        seen[sandbox] = outcome.outputs.parameters["out"].strip()
    assert seen == {False: "visible", True: "hidden"}


def test_the_server_runs_submitted_pipelines_on_the_cluster(settings, ray_cluster) -> None:
    """`pinnace server --executor ray`: a run submitted through the client runs on Ray,
    its steps sandboxed on the nodes, its metadata in PostgreSQL and artifacts in S3."""
    import uvicorn

    from pinnace.client import Client
    from pinnace.server import create_app
    from pinnace.settings import ServerOptions
    from service_support import free_port

    app = create_app(settings, ServerOptions.load(env={}, auth=False))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        client = Client(host=f"http://127.0.0.1:{port}")
        run = client.create_run_from_pipeline_func(placement, {"salt": uuid.uuid4().hex})
        run_id = run["run_id"]
        done = client.wait_for_run_completion(run_id, timeout=300)
        assert done["state"] == "SUCCEEDED", done
        executions = executions_of(settings, run_id)
        nodes = {e.task_name: ray_cluster.name_of(e.environment["ray_node"]) for e in executions}
        assert nodes["where"] == "gpu" and nodes["where-2"] == "cpu"
    finally:
        server.should_exit = True
        thread.join(30)
