"""Task options in the LocalExecutor: memory limit, CPU limit, GPUs, container engines."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from engine_helpers import kfp_spec, memory_driver, run_kfp

from pinnace.errors import ExecutorError
from pinnace.executors.containers import container_command, input_paths, probe_engines
from pinnace.executors.limits import GpuPool, discover_gpus, human_bytes
from pinnace.model.state import RunState, TaskState
from pinnace.settings import Settings


def test_a_task_over_its_memory_limit_is_killed_with_a_clear_message(tmp_path):
    run, tasks = run_kfp("memory_pipeline", tmp_path, {"megabytes": 300})
    assert run.state is RunState.FAILED
    error = tasks["hog"].error
    assert tasks["hog"].state is TaskState.FAILED
    assert error.startswith("exceeded its memory limit of 100M (peak ")
    peak = error.split("peak ")[1].split(")")[0]
    assert peak.endswith("M") and 100 <= int(peak[:-1]) < 400  # a cgroup stops it at 100M


def test_a_task_under_its_memory_limit_runs(tmp_path):
    run, _ = run_kfp("memory_pipeline", tmp_path, {"megabytes": 1})
    assert run.state is RunState.SUCCEEDED, run.error


def test_gpu_tasks_get_their_own_devices_and_cpu_limits_pin_cores(tmp_path, monkeypatch):
    monkeypatch.setenv("PINNACE_GPUS", "0,1")
    run, tasks = run_kfp("gpu_pipeline", tmp_path)
    assert run.state is RunState.SUCCEEDED, run.error
    reports = {p: json.loads(t.outputs["parameters"]["Output"]) for p, t in tasks.items()}
    gpu_devices = {reports[p]["CUDA_VISIBLE_DEVICES"] for p in ("env-report", "env-report-2")}
    assert gpu_devices <= {"0", "1"} and all(len(d) == 1 for d in gpu_devices)
    cpu_task = reports["env-report-3"]
    assert cpu_task["CUDA_VISIBLE_DEVICES"] == ""
    assert cpu_task["cpus"] == 1 and cpu_task["OMP_NUM_THREADS"] == "1"


def test_a_task_asking_for_more_gpus_than_exist_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PINNACE_GPUS", "0")
    run, tasks = run_kfp("too_many_gpus_pipeline", tmp_path)
    assert run.state is RunState.FAILED
    assert "asks for 4 GPU(s) but this machine has 1 (0)" in tasks["env-report"].error


def test_gpu_ids_from_the_setting_or_none(tmp_path):
    assert Settings.load(env={"PINNACE_GPUS": "0, 1"}, home=tmp_path).gpus == ("0", "1")
    assert Settings.load(env={"PINNACE_GPUS": ""}, home=tmp_path).gpus == ()  # none
    assert Settings.load(env={}, home=tmp_path).gpus is None  # discovered by nvidia-smi
    assert isinstance(discover_gpus(), list)


def test_gpu_pool_queues_a_task_until_devices_are_released():
    pool = GpuPool(["0", "1"])
    first = pool.acquire(2, "a", lambda: False)
    got: list[list[str] | None] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(1, "b", lambda: False)))
    waiter.start()
    time.sleep(0.3)
    assert got == []  # still waiting
    pool.release(first)
    waiter.join(timeout=2)
    assert got == [["0"]]
    with pytest.raises(ExecutorError, match="asks for 3 GPU"):
        pool.acquire(3, "c", lambda: False)
    assert GpuPool(["0"]).acquire(1, "d", lambda: False) == ["0"]
    busy = GpuPool([])
    busy.gpus = ["0"]  # one device, none free: a canceled waiter gives up
    assert busy.acquire(1, "e", lambda: True) is None


def test_human_bytes():
    assert human_bytes(100_000_000) == "100M"
    assert human_bytes(612_400_000) == "612M"
    assert human_bytes(2_500_000_000) == "2.5G"
    assert human_bytes(512) == "512B"


def test_container_command_mounts_the_work_folder_and_inputs_at_the_same_paths(tmp_path):
    argv = container_command(
        "docker",
        image="alpine:3",
        command=["sh", "-c", "echo hi"],
        args=["--x", "1"],
        workdir=tmp_path,
        mounts=["/data/in.csv", str(tmp_path)],
        env={"B": "2", "A": "1"},
        gpus=["1"],
        cpus=2.0,
        memory_bytes=1000,
        user="1000:1000",
        name="pinnace-x",
    )
    assert argv == [
        "docker",
        "run",
        "--rm",
        "--workdir",
        str(tmp_path),
        "--name",
        "pinnace-x",
        "--user",
        "1000:1000",
        "--volume",
        f"{tmp_path}:{tmp_path}",
        "--volume",
        "/data/in.csv:/data/in.csv",
        "--env",
        "A=1",
        "--env",
        "B=2",
        "--gpus",
        "device=1",
        "--cpus",
        "2",
        "--memory",
        "1000",
        "--entrypoint",
        "sh",
        "alpine:3",
        "-c",
        "echo hi",
        "--x",
        "1",
    ]
    assert container_command("podman", image="i", command=[], args=["a"], workdir=tmp_path)[
        -2:
    ] == ["i", "a"]


def test_input_paths_are_the_local_artifact_paths():
    executor_input = {
        "inputs": {
            "artifacts": {
                "d": {"artifacts": [{"uri": "/a/b"}]},
                "e": {"artifacts": [{"uri": "gs://x"}]},
            }
        }
    }
    assert input_paths(executor_input) == ["/a/b"]


def fake_engine(bin_dir: Path, name: str, *, answers: bool, log: Path | None = None) -> None:
    """A `docker` stand-in: `info` answers (or not); `run` runs the command on the host."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"""#!/bin/sh
if [ "$1" = info ]; then
  {"exit 0" if answers else 'echo "Cannot connect to the Docker daemon" >&2; exit 1'}
fi
echo "$@" > {log or "/dev/null"}
shift  # run
while [ "$1" != "--entrypoint" ]; do shift; done
entry="$2"; shift 3  # --entrypoint ENTRY IMAGE
exec "$entry" "$@"
""")
    script.chmod(0o755)


def test_probe_reports_why_no_engine_answers(tmp_path, monkeypatch):
    fake_engine(tmp_path / "bin", "docker", answers=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    probe = probe_engines(("docker", "pinnace-no-podman"))
    assert probe.engine is None
    assert "docker: its engine is not running (Cannot connect to the Docker daemon)" in (
        probe.explain()
    )
    assert "pinnace-no-podman: not on PATH" in probe.explain()


def test_container_component_runs_through_an_answering_engine(tmp_path, monkeypatch):
    log = tmp_path / "engine-argv"
    fake_engine(tmp_path / "bin", "docker", answers=True, log=log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    spec = kfp_spec("container_pipeline", tmp_path)
    driver = memory_driver(tmp_path)
    try:
        record = driver.create_run(spec, {"text": "yo"})
        run = driver.drive(record.run_id)
        (task,) = driver.metadata.list_tasks(record.run_id)
    finally:
        driver.executor.close()
    assert run.state is RunState.SUCCEEDED, run.error
    argv = log.read_text()
    assert argv.startswith("run --rm --workdir ") and " alpine:3 " in argv
    assert (
        "with " in Path(task.log_path).read_text() and "docker" in Path(task.log_path).read_text()
    )


def test_without_engine_and_program_the_error_says_what_was_tried(tmp_path, monkeypatch):
    fake_engine(tmp_path / "bin", "docker", answers=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    spec = kfp_spec("missing_program_pipeline", tmp_path)
    driver = memory_driver(tmp_path)
    try:
        record = driver.create_run(spec)
        run = driver.drive(record.run_id)
        (task,) = driver.metadata.list_tasks(record.run_id)
    finally:
        driver.executor.close()
    assert run.state is RunState.FAILED
    assert "docker: its engine is not running" in task.error
    assert "'pinnace-no-such-program' is not on this machine" in task.error
