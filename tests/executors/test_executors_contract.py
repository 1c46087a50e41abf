"""The executor contract: every executor (local, Ray) passes the same tests.

A launch is what the engine hands over: the container's command with placeholders unfilled,
an executor input in artifact URIs, resources. The executor stages it where it runs,
commits the outputs, and reports them; the Ray one runs on a local multi-node cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.executors.base import Executor, Resources, TaskLaunch
from pinnace.stores import open_artifact_store
from pinnace.stores.base import ArtifactStore


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    return open_artifact_store(str(tmp_path_factory.mktemp("artifacts")))


@pytest.fixture(params=["local", "ray"], scope="module")
def executor(
    request: pytest.FixtureRequest, store: ArtifactStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Executor]:
    home = tmp_path_factory.mktemp("home")
    made: Executor
    if request.param == "local":
        from pinnace.envs.cache import EnvironmentCache
        from pinnace.executors.local import LocalExecutor
        from pinnace.executors.runtime_copy import materialize_runtime

        made = LocalExecutor(
            env_cache=EnvironmentCache(home / "envs"),
            runtime_path=materialize_runtime(home),
            parallelism=2,
            use_current_python=True,
            artifacts=store,
            work_dir=home / "work",
        )
    else:
        request.getfixturevalue("ray_cluster")
        from pinnace.executors.ray import RayExecutor

        made = RayExecutor(
            address=request.getfixturevalue("ray_cluster").address,
            artifact_root=store.root,
            home=str(home),
            use_current_python=True,
        )
    yield made
    made.close()


def launch_of(
    tmp_path: Path,
    store: ArtifactStore,
    script: str,
    *,
    inputs: dict[str, str] | None = None,
    resources: Resources = Resources(),
    env: dict[str, str] | None = None,
) -> TaskLaunch:
    """A launch of `sh -c script` with an output parameter `out` and an artifact `data`.

    `$0` is the parameter's file and `$1` the artifact's path; `inputs` (name -> URI) are
    input artifacts, their paths in `$2`, `$3`...
    """
    run_id = uuid.uuid4().hex[:12]
    artifacts = {
        name: {"artifacts": [{"name": name, "uri": uri, "type": {}, "metadata": {}}]}
        for name, uri in (inputs or {}).items()
    }
    executor_input: dict[str, Any] = {
        "inputs": {"artifacts": artifacts} if artifacts else {},
        "outputs": {
            "parameters": {"out": {"outputFile": "outputs/parameters/out"}},
            "artifacts": {
                "data": {
                    "artifacts": [
                        {
                            "name": "data",
                            "type": {"schemaTitle": "system.Dataset"},
                            "uri": store.uri_for(run_id, "task", "data"),
                            "metadata": {},
                        }
                    ]
                }
            },
            "outputFile": "executor_output.json",
        },
    }
    paths = [f"{{{{$.inputs.artifacts['{name}'].path}}}}" for name in inputs or {}]
    return TaskLaunch(
        run_id=run_id,
        task_name="task",
        execution_id=uuid.uuid4().hex,
        image="alpine",
        command=("sh", "-c", script),
        args=(
            "{{$.outputs.parameters['out'].output_file}}",
            "{{$.outputs.artifacts['data'].path}}",
            *paths,
        ),
        executor_input=executor_input,
        artifact_root=store.root,
        log_path=tmp_path / "logs" / f"{run_id}.log",
        env=env or {},
        resources=resources,
    )


def test_a_task_runs_and_its_outputs_are_committed(executor, store, tmp_path) -> None:
    script = 'echo hello from the task; printf 42 > "$0"; mkdir -p "$1"; echo rows > "$1/a.csv"'
    launch = launch_of(tmp_path, store, script)
    outcome = executor.submit(launch).result(timeout=120)
    assert outcome.ok, (outcome.error, launch.log_path.read_text())
    assert outcome.outputs is not None
    assert outcome.outputs.parameters == {"out": "42"}
    assert outcome.outputs.artifacts["data"]["written"] is True
    uri = launch.executor_input["outputs"]["artifacts"]["data"]["artifacts"][0]["uri"]
    fetched = store.fetch(uri, tmp_path / "got")
    assert (fetched / "a.csv").read_text() == "rows\n"
    assert "hello from the task" in launch.log_path.read_text()


def test_input_artifacts_are_staged_where_the_task_runs(executor, store, tmp_path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("input data")
    uri = store.uri_for("upstream", "make", "data")
    store.commit(source, uri)
    launch = launch_of(tmp_path, store, 'cat "$2" > "$0"', inputs={"data": uri})
    outcome = executor.submit(launch).result(timeout=120)
    assert outcome.ok, (outcome.error, launch.log_path.read_text())
    assert outcome.outputs.parameters == {"out": "input data"}
    assert outcome.outputs.artifacts["data"]["written"] is False  # never written: recorded


def test_a_failing_task_reports_why(executor, store, tmp_path) -> None:
    launch = launch_of(tmp_path, store, "echo about to fail >&2; exit 3")
    outcome = executor.submit(launch).result(timeout=120)
    assert not outcome.ok
    assert outcome.exit_code == 3
    assert "code 3" in (outcome.error or "")
    assert outcome.outputs is None
    assert "about to fail" in launch.log_path.read_text()


def test_cancel_stops_a_running_task(executor, store, tmp_path) -> None:
    marker = tmp_path / "started"
    launch = launch_of(tmp_path, store, f"touch {marker}; sleep 60; printf late > $0")
    future = executor.submit(launch)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline, launch.log_path.read_text()
        time.sleep(0.1)
    executor.cancel(launch.execution_id)
    outcome = future.result(timeout=60)
    assert not outcome.ok
    assert outcome.error == "canceled"


def test_logs_reach_the_task_log_while_it_runs(executor, store, tmp_path) -> None:
    gate = tmp_path / "gate"
    script = f"echo first line; while [ ! -e {gate} ]; do sleep 0.1; done; echo second line"
    launch = launch_of(tmp_path, store, script)
    future = executor.submit(launch)
    deadline = time.monotonic() + 120
    while "first line" not in (launch.log_path.read_text() if launch.log_path.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not future.done()  # the first line arrived before the task ended
    gate.touch()
    assert future.result(timeout=60).ok
    assert "second line" in launch.log_path.read_text()


def test_launches_are_serializable(store, tmp_path) -> None:
    import pickle

    launch = launch_of(tmp_path, store, "true")
    assert pickle.loads(pickle.dumps(launch)) == launch
    json.dumps(launch.executor_input)  # plain data, URIs only


def test_volumes_are_bound_or_the_task_is_refused(executor, store, tmp_path) -> None:
    """kfp-kubernetes volumes: the local executor binds them at their mount paths (bwrap);
    the Ray one cannot (another node lacks the folders) and says so. Either way the
    execution's temporary volumes are removed."""
    from dataclasses import replace

    from pinnace.executors.base import Mount
    from pinnace.executors.ray import RayExecutor

    if not isinstance(executor, RayExecutor) and shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap")
    folder = tmp_path / "volume"
    folder.mkdir()
    (folder / "key").write_text("value")
    target = "/mnt/contract-volume"
    existed = Path(target).exists()
    launch = replace(
        launch_of(tmp_path, store, f'cat {target}/key > "$0"'),
        image="",  # on this machine, even where a container engine answers
        mounts=(Mount(str(folder), target, read_only=True, temporary=True),),
    )
    outcome = executor.submit(launch).result(timeout=120)
    if not existed:
        with contextlib.suppress(OSError):
            os.rmdir(target)  # the mount point bwrap made (run by root, without the sandbox)
    assert not folder.exists()
    if isinstance(executor, RayExecutor):
        assert not outcome.ok and "does not mount kfp-kubernetes volumes" in (outcome.error or "")
    else:
        assert outcome.ok, (outcome.error, launch.log_path.read_text())
        assert outcome.outputs.parameters == {"out": "value"}
