"""Ray executor against the local executor, in the same run: per-task overhead and fan-out.

    .venv/bin/python bench/ray_bench.py [--tasks 1000] [--sequential 40] [--cpus 4]

Starts a local Ray cluster (a head without CPUs and two workers with `--cpus` each, on
127.0.0.2), then, through the executor interface (what the engine calls):

- overhead: `--sequential` trivial tasks one after another (`sh -c 'printf 1 > $0'`, an
  output parameter), wall per task minus the floor (the same command run by subprocess here);
- fan-out: `--tasks` trivial tasks submitted at once; tasks per second.

The local executor runs the same launches with parallelism = the cluster's CPUs. Prints a
table and writes bench/ray-results.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's cluster starter

from pinnace.executors.base import Executor, TaskLaunch  # noqa: E402
from pinnace.stores import open_artifact_store  # noqa: E402
from service_support import RAY_IP, ray_cluster  # noqa: E402

SCRIPT = 'printf 1 > "$0"'


def launch(root: str, logs: Path) -> TaskLaunch:
    run_id = uuid.uuid4().hex[:12]
    return TaskLaunch(
        run_id=run_id,
        task_name="trivial",
        execution_id=uuid.uuid4().hex,
        image="alpine",
        command=("sh", "-c", SCRIPT),
        args=("{{$.outputs.parameters['out'].output_file}}",),
        executor_input={
            "inputs": {},
            "outputs": {
                "parameters": {"out": {"outputFile": "outputs/parameters/out"}},
                "outputFile": "executor_output.json",
            },
        },
        artifact_root=root,
        log_path=logs / f"{run_id}.log",
    )


def floor_seconds(samples: int, folder: Path) -> float:
    times = []
    for _ in range(samples):
        begin = time.perf_counter()
        subprocess.run(["sh", "-c", SCRIPT, str(folder / "out")], check=True)
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def sequential(executor: Executor, count: int, root: str, logs: Path) -> list[float]:
    times = []
    for _ in range(count):
        begin = time.perf_counter()
        outcome = executor.submit(launch(root, logs)).result()
        times.append(time.perf_counter() - begin)
        assert outcome.ok and outcome.outputs and outcome.outputs.parameters == {"out": "1"}, (
            outcome
        )
    return times


def fan_out(executor: Executor, count: int, root: str, logs: Path) -> float:
    begin = time.perf_counter()
    futures = [executor.submit(launch(root, logs)) for _ in range(count)]
    failed = [f.result().error for f in futures if not f.result().ok]
    seconds = time.perf_counter() - begin
    assert not failed, failed[:3]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--sequential", type=int, default=40)
    parser.add_argument("--cpus", type=int, default=4, help="CPUs each of the 2 workers has")
    options = parser.parse_args()
    results: dict[str, Any] = {"tasks": options.tasks, "sequential": options.sequential}
    with tempfile.TemporaryDirectory(prefix="pnbench-", dir="/tmp") as temp:
        home = Path(temp)
        store = open_artifact_store(str(home / "artifacts"))
        logs = home / "logs"
        results["floor_s"] = floor_seconds(20, home)
        workers = {name: [f"--num-cpus={options.cpus}"] for name in ("w1", "w2")}
        begin = time.perf_counter()
        with ray_cluster(home / "ray", workers, env={"PINNACE_HOME": str(home / "node")}) as cl:
            results["cluster_start_s"] = time.perf_counter() - begin
            import ray

            ray.init(address=cl.address, _node_ip_address=RAY_IP, logging_level="WARNING")
            for name, executor in executors(store.root, home, 2 * options.cpus, cl.address):
                try:
                    sequential(executor, 3, store.root, logs)  # warm: workers, imports
                    times = sequential(executor, options.sequential, store.root, logs)
                    results[f"{name}_per_task_s"] = statistics.median(times)
                    results[f"{name}_fanout_s"] = fan_out(executor, options.tasks, store.root, logs)
                finally:
                    executor.close()
            ray.shutdown()
    report(results)
    (ROOT / "bench" / "ray-results.json").write_text(json.dumps(results, indent=2) + "\n")


def executors(root: str, home: Path, cpus: int, address: str) -> Any:
    from pinnace.envs.cache import EnvironmentCache
    from pinnace.executors.local import LocalExecutor
    from pinnace.executors.ray import RayExecutor
    from pinnace.executors.runtime_copy import materialize_runtime

    store = open_artifact_store(root)
    yield (
        "local",
        LocalExecutor(
            env_cache=EnvironmentCache(home / "envs"),
            runtime_path=materialize_runtime(home),
            parallelism=cpus,
            use_current_python=True,
            artifacts=store,
            work_dir=home / "work",
        ),
    )
    yield "ray", RayExecutor(address=address, artifact_root=root, use_current_python=True)


def report(r: dict[str, Any]) -> None:
    floor = r["floor_s"]
    print(f"Ray executor bench: cluster started in {r['cluster_start_s']:.1f} s")
    print(f"{'':44}{'ms/task':>10}{'overhead':>10}{'tasks/s':>10}  target")
    print(f"{'floor: sh -c by subprocess':44}{floor * 1000:>10.1f}")
    for name in ("local", "ray"):
        per = r[f"{name}_per_task_s"]
        rate = r["tasks"] / r[f"{name}_fanout_s"]
        target = "  < 50 ms, >= 50/s" if name == "ray" else ""
        print(
            f"{name + ' executor: sequential / fan-out of ' + str(r['tasks']):44}"
            f"{per * 1000:>10.1f}{(per - floor) * 1000:>10.1f}{rate:>10.1f}{target}"
        )


if __name__ == "__main__":
    main()
