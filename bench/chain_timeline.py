"""Where a chained trivial task's time goes: the critical path of the chain of 20, step by step.

    .venv/bin/python bench/chain_timeline.py [--runs 3]

Runs bench/trivial_pipelines.py's chain through `pinnace.run(cache=False)` in this process
(fork servers on, a private home warmed by one run) with `perf_counter` stamps on the driver's
side of each task (the functions are wrapped here; nothing in the code changes), then prints
the median of each step over tasks 3 to 20 of every run:

    before the request   submit() -> the fork request sent (staging, task folder, cgroup, ...)
    request to pid       the request sent -> the child's pid back (the server's hand-off)
    child                pid back -> exit code back (the child's run, its exit, the reap)
    outcome              exit code back -> the task's future done (close, collect, discard)
    engine round         future done -> the next submit (the driver's round and its commit)

and, per run, how long the first task waited for the run's fork server and how long the run
took from its last task's end to `pinnace.run` returning. Load average is printed: on a
shared machine, compare figures taken in the same minute only.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pinnace
import trivial_pipelines

from pinnace.executors import forking, forkserver, local

EVENTS: list[tuple[float, str]] = []
STEPS = (
    ("before the request", "submit", "request"),
    ("request to pid", "request", "pid"),
    ("child", "pid", "exit"),
    ("outcome", "exit", "done"),
    ("engine round", "done", "submit"),
)


def stamp(name: str) -> None:
    EVENTS.append((time.perf_counter(), name))


def stamped(owner: Any, attribute: str, name: str) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stamp(name)
        return original(*args, **kwargs)

    setattr(owner, attribute, wrapper)


def instrument() -> None:
    stamped(local.LocalExecutor, "submit", "submit")
    stamped(forking.TaskForking, "fork", "prepared")
    stamped(forkserver.ForkServer, "fork", "request")
    stamped(forkserver.ForkedChild, "_set_started", "pid")
    stamped(forkserver.ForkedChild, "_set_ended", "exit")
    original = local.LocalExecutor.submit

    def submit(self: Any, launch: Any) -> Any:
        future = original(self, launch)
        future.add_done_callback(lambda _f: stamp("done"))
        return future

    local.LocalExecutor.submit = submit  # type: ignore[method-assign]


def steps(events: list[tuple[float, str]]) -> dict[str, list[float]]:
    """Milliseconds of each step of tasks 3.. of one run (the first two warm the server)."""
    found: dict[str, list[float]] = defaultdict(list)
    starts = [i for i, (_, name) in enumerate(events) if name == "submit"]
    for begin, end in itertools.pairwise(starts[2:]):
        first: dict[str, float] = {}
        for moment, name in events[begin : end + 1]:
            first.setdefault(name, moment)
        first["submit"] = events[begin][0]
        last = events[end][0]
        for label, start, stop in STEPS:
            until = last if stop == "submit" else first.get(stop)
            if start in first and until is not None:
                found[label].append((until - first[start]) * 1000)
        found["task, submit to submit"].append((last - events[begin][0]) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    instrument()
    home = Path(tempfile.mkdtemp(prefix="pinnace-chain-timeline-"))
    found: dict[str, list[float]] = defaultdict(list)
    try:
        _pinnace.time_engine(home, trivial_pipelines.chain, parallelism=2)
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            EVENTS.clear()
            started = time.perf_counter()
            _pinnace.time_engine(home, trivial_pipelines.chain, parallelism=2)
            ended = time.perf_counter()
            events = sorted(EVENTS)
            for label, values in steps(events).items():
                found[label].extend(values)
            first = {name: moment for moment, name in reversed(events)}
            found["run: first task waited for its server"].append(
                (first["pid"] - first["prepared"]) * 1000
            )
            found["run: last task's end to return"].append((ended - events[-1][0]) * 1000)
            found["run: wall / task"].append((ended - started) * 1000 / trivial_pipelines.N)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"chain of {trivial_pipelines.N}, {args.runs} runs, load {load:.1f} -> "
        f"{os.getloadavg()[0]:.1f}"
    )
    for label, values in found.items():
        print(f"  {label:40} {statistics.median(values):8.2f} ms  (n {len(values)})")


if __name__ == "__main__":
    main()
