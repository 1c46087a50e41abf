"""Where a forked trivial task's time goes, on the executor side: a per-phase breakdown.

    .venv/bin/python bench/child_profile.py [--tasks 40] [--strace] [--fresh]

Runs the trivial `step(x) -> x + 1` component through a real LocalExecutor (fork servers on,
the current interpreter, cgroups where this machine allows) the way the engine does: the
launch of a one-step pipeline is captured once, then submitted `--tasks` times one after the
other, each with its own execution id. Every executor-side phase is timed with
`time.perf_counter_ns` stamps (the functions are wrapped here; nothing in the code changes):

    stage      task folder, inputs, output paths, placeholders (staging.stage)
    prepare    recognise the program, its environment, write the component module
    task_env   the task's environment variables
    contain    the attempt's containment (cgroups created, limits)
    fork       fork request round trip: request sent -> child's pid back, attached
    child      the child runs: pid back -> exit code back (cgroup join, runtime, outputs)
    close      the containment ends (tree killed, cgroups removed)
    collect    outputs read and committed to the artifact store
    cleanup    the task folder removed
    total      submit() -> outcome

`--strace` also traces the fork server's children (strace -f -T) and prints where a child's
own time goes (cgroup join, imports, outputs, exit). Figures are per task, median and mean.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from pinnace import compiler, dsl
from pinnace.engine.driver import RunDriver
from pinnace.envs.cache import EnvironmentCache
from pinnace.executors import _supervision, forking, forkserver, local, staging
from pinnace.executors.local import LocalExecutor
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.stores import open_artifact_store, open_metadata_store

STAMPS: dict[str, list[int]] = defaultdict(list)
_CURRENT: dict[int, dict[str, int]] = {}


@dsl.component
def step(x: int) -> int:
    return x + 1


@dsl.pipeline(name="one-step")
def one(x: int = 0):
    step(x=x)


def timed(name: str, function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return function(*args, **kwargs)
        finally:
            STAMPS[name].append(time.perf_counter_ns() - started)

    return wrapper


def instrument() -> None:
    staging.stage = timed("stage", staging.stage)
    staging.collect = timed("collect", staging.collect)
    staging.run_attempt = timed("attempt", staging.run_attempt)
    local.run_attempt = staging.run_attempt
    LocalExecutor._execute = timed("execute", LocalExecutor._execute)  # type: ignore[method-assign]
    LocalExecutor._spawn = timed("spawn", LocalExecutor._spawn)  # type: ignore[method-assign]
    LocalExecutor._prepare = timed("prepare", LocalExecutor._prepare)  # type: ignore[method-assign]
    LocalExecutor._task_env = timed("task_env", LocalExecutor._task_env)  # type: ignore[method-assign]
    _supervision.Supervisor.contain = timed("contain", _supervision.Supervisor.contain)  # type: ignore[method-assign]
    _supervision.Containment.close = timed("close", _supervision.Containment.close)  # type: ignore[method-assign]
    forking.TaskForking.fork = timed("fork", forking.TaskForking.fork)  # type: ignore[method-assign]
    forkserver.ForkServer.fork = timed("fork.roundtrip", forkserver.ForkServer.fork)  # type: ignore[method-assign]
    original_wait = forkserver.ForkedChild.wait

    def wait(self: Any, timeout: float | None = None) -> int:
        started = time.perf_counter_ns()
        try:
            return original_wait(self, timeout)
        finally:
            STAMPS["child"].append(time.perf_counter_ns() - started)

    forkserver.ForkedChild.wait = wait  # type: ignore[method-assign]

    class _Shutil:
        def __getattr__(self, name: str) -> Any:
            return getattr(shutil, name)

        rmtree = staticmethod(timed("cleanup", shutil.rmtree))

    staging.shutil = _Shutil()  # type: ignore[assignment]


def capture_launch(home: Path, executor: LocalExecutor) -> Any:
    """The TaskLaunch the engine hands the executor for the one-step pipeline."""
    captured: list[Any] = []
    submit = executor.submit

    def spy(launch: Any) -> Any:
        captured.append(launch)
        return submit(launch)

    executor.submit = spy  # type: ignore[method-assign]
    path = home / "one.yaml"
    compiler.Compiler().compile(one, str(path))
    driver = RunDriver(
        metadata=open_metadata_store("memory://"),
        artifacts=open_artifact_store(str(home / "artifacts")),
        executor=executor,
        work_dir=home / "work",
        logs_dir=home / "logs",
    )
    run = driver.create_run(yaml.safe_load(path.read_text()), cache=False)
    final = driver.drive(run.run_id)
    executor.submit = submit  # type: ignore[method-assign]
    if final.state.value != "SUCCEEDED":
        raise SystemExit(f"warm-up run {final.state.value}")
    return captured[0]


def _cpu_of(pid: int) -> tuple[float, float, int, int]:
    """Seconds of CPU of `pid` itself and of its reaped children (its forked tasks), and
    their minor page faults (copies on write, mostly)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (
        (int(fields[11]) + int(fields[12])) / tick,
        (int(fields[13]) + int(fields[14])) / tick,
        int(fields[7]),  # minor faults, the server's
        int(fields[8]),  # and its reaped children's
    )


def strace_children(server_pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["strace", "-f", "-ttt", "-T", "-qq", "-o", str(out), "-p", str(server_pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+) (.*?)(?: <(\d+\.\d+)>)?$")


def child_phases(trace: Path, server_pid: int) -> dict[str, list[float]]:
    """Per child: ms from its first syscall to the cgroup join's end, to the component
    module's open, to executor_output.json written, to exit."""
    events: dict[int, list[tuple[float, str, float]]] = defaultdict(list)
    for line in trace.read_text().splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        pid, stamp, call, took = match.groups()
        events[int(pid)].append((float(stamp), call, float(took or 0)))
    phases: dict[str, list[float]] = defaultdict(list)
    for pid, calls in events.items():
        if pid == server_pid or not calls:
            continue
        start = calls[0][0]
        marks: dict[str, float] = {}
        join_ms = 0.0
        for stamp, call, took in calls:
            if "cgroup.procs" in call and call.startswith("openat"):
                marks.setdefault("join_open", stamp)
            if call.startswith("write(") and "join_open" in marks and "joined" not in marks:
                join_ms += took * 1000
                marks["joined"] = stamp + took
            if "ephemeral_component.py" in call and "component" not in marks:
                marks["component"] = stamp
            if "executor_output.json" in call:
                marks["output"] = stamp
            if call.startswith("exit_group"):
                marks["exit"] = stamp
        if "exit" not in marks:
            continue
        phases["cgroup write(procs) ms"].append(join_ms)
        last = start
        for name in ("joined", "component", "output", "exit"):
            if name in marks:
                phases[f"-> {name} ms"].append((marks[name] - last) * 1000)
                last = marks[name]
        phases["child syscalls total ms"].append((marks["exit"] - start) * 1000)
    return phases


def report(rows: dict[str, list[float]], unit: str = "ms") -> None:
    print(f"{'phase':34} {'median':>8} {'mean':>8} {'n':>5}")
    for name, values in rows.items():
        if values:
            print(
                f"{name:34} {statistics.median(values):8.2f} {statistics.mean(values):8.2f} "
                f"{len(values):5d}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--strace", action="store_true", help="trace the children too")
    parser.add_argument("--fresh", action="store_true", help="fork servers off")
    parser.add_argument("--perf", help="perf record the fork server and its children here")
    parser.add_argument(
        "--perf-options", default="-e cpu-clock -F 4000 -g", help="perf record options"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch home")
    parser.add_argument("--supervision", default=None, help="cgroup1, cgroup2 or subreaper")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pinnace-child-profile-"))
    executor = LocalExecutor(
        env_cache=EnvironmentCache(home / "envs"),
        runtime_path=materialize_runtime(home),
        parallelism=1,
        use_current_python=True,
        fork_servers=not args.fresh,
        supervision=args.supervision,
        artifacts=open_artifact_store(str(home / "artifacts")),
        work_dir=home / "work",
    )
    tracer = None
    try:
        launch = capture_launch(home, executor)
        for _ in range(3):  # warm: the server has imported, caches are hot
            executor.submit(replace(launch, execution_id=f"warm{_}", attempt=100 + _)).result()
        trace = home / "strace.txt"
        servers = executor.fork_servers()
        if args.strace and servers:
            tracer = strace_children(int(servers[0]["pid"]), trace)
            time.sleep(0.5)
        elif args.perf and servers:
            tracer = subprocess.Popen(
                [
                    *["perf", "record", "-q", *args.perf_options.split()],
                    *["-o", args.perf, "-p", str(servers[0]["pid"])],
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        STAMPS.clear()
        instrument()
        server_cpu = [_cpu_of(int(s["pid"])) for s in servers]
        own_cpu = os.times()
        walls = []
        for index in range(args.tasks):
            one_launch = replace(launch, execution_id=f"p{index}", attempt=index + 1)
            started = time.perf_counter_ns()
            outcome = executor.submit(one_launch).result()
            walls.append(time.perf_counter_ns() - started)
            if not outcome.ok:
                raise SystemExit(f"task {index} failed: {outcome.error}")
        STAMPS["total"] = walls
        own = os.times()
        cpu = {
            "driver CPU (user+sys)": [
                (own.user + own.system - own_cpu.user - own_cpu.system) * 1e9 / args.tasks
            ]
        }
        for server, before in zip(servers, server_cpu, strict=True):
            after = _cpu_of(int(server["pid"]))
            cpu["fork server CPU"] = [(after[0] - before[0]) * 1e9 / args.tasks]
            cpu["forked children CPU"] = [(after[1] - before[1]) * 1e9 / args.tasks]
            cpu["fork server page faults (count)"] = [(after[2] - before[2]) * 1e6 / args.tasks]
            cpu["child page faults (count)"] = [(after[3] - before[3]) * 1e6 / args.tasks]
        print(
            f"{args.tasks} trivial tasks, one at a time, supervision {executor.supervision}, "
            f"{'fresh' if args.fresh else 'forked'}; load: {os.getloadavg()[0]:.2f}"
        )
        report({k: [v / 1e6 for v in vs] for k, vs in {**STAMPS, **cpu}.items()})
        if tracer is not None and args.perf:
            tracer.send_signal(2)
            tracer.wait()
            tracer = None
        if tracer is not None:
            time.sleep(0.2)
            tracer.terminate()
            tracer.wait()
            print("\nin the child (strace -f -T; tracing slows syscalls):")
            report(child_phases(trace, int(servers[0]["pid"])))
    finally:
        if tracer is not None and tracer.poll() is None:
            tracer.kill()
        executor.close()
        if args.keep:
            print(f"kept {home}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(home)


if __name__ == "__main__":
    sys.exit(main())
