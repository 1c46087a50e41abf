"""Where the engine's driver spends its time on trivial tasks (issue 12).

    python bench/engine_profile.py                 # chain of 20, fan-out of 1,000: timings
    python bench/engine_profile.py --profile chain # plus a cProfile of the driver's thread
    python bench/engine_profile.py --wide 200 --repeat 5
    python bench/engine_profile.py --only chain --rounds   # the driver's round, by phase

Runs bench/trivial_pipelines.py through `pinnace.run(cache=False, parallelism=2)` in this
(warm) process with a private home, and counts the metadata store's transactions and
statements (SQLAlchemy events on every engine) per run. Prints one JSON line per run and a
summary with medians; `uptime` is printed first, since other work on the machine skews it.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class Counter:
    """Transactions (BEGIN) and statements on every SQLAlchemy engine of this process."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        self.begins = 0
        self.statements = 0
        self.commits = 0

        def on_begin(_conn: Any) -> None:
            self.begins += 1

        def on_commit(_conn: Any) -> None:
            self.commits += 1

        def on_execute(*_args: Any) -> None:
            self.statements += 1

        event.listen(Engine, "begin", on_begin)
        event.listen(Engine, "commit", on_commit)
        event.listen(Engine, "before_cursor_execute", on_execute)

    def snapshot(self) -> tuple[int, int, int]:
        return self.begins, self.commits, self.statements


class Rounds:
    """Median milliseconds of each phase of the driver's rounds (see RunDriver._loop): wake
    (a task's future done -> the driver's wait returns), complete, advance, commit (the
    round's one transaction), launch (submits), prestart."""

    def __init__(self) -> None:
        from pinnace.engine import driver, launcher, scheduler
        from pinnace.stores import sql

        self.times: dict[str, list[float]] = {}
        self._done: list[float] = []
        self._wrap(launcher.TaskLauncher, "complete")
        self._wrap(scheduler.Scheduler, "advance")
        self._wrap(sql.SqlMetadataStore, "_commit", "commit")
        self._wrap(launcher.TaskLauncher, "launch")
        self._wrap(launcher.TaskLauncher, "prestart")
        wait, done = driver.wait, self._done

        def timed_wait(futures: Any, *args: Any, **kwargs: Any) -> Any:
            for future in futures:  # the callback runs at once when it is done already
                future.add_done_callback(lambda _f: done.append(time.perf_counter()))
            result = wait(futures, *args, **kwargs)
            if done:
                self.times.setdefault("wake", []).append(time.perf_counter() - min(done))
                done.clear()
            return result

        driver.wait = timed_wait  # type: ignore[assignment]

    def _wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        original = getattr(owner, name)
        times = self.times.setdefault(label or name, [])

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times.append(time.perf_counter() - started)

        setattr(owner, name, timed)

    def report(self) -> dict[str, float]:
        medians = {k: round(1000 * statistics.median(v), 3) for k, v in self.times.items() if v}
        for values in self.times.values():
            values.clear()
        return medians


def _trivial() -> Any:
    spec = importlib.util.spec_from_file_location(
        "trivial_pipelines", HERE / "trivial_pipelines.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["trivial_pipelines"] = module
    spec.loader.exec_module(module)
    return module


def one_run(
    home: Path, pipeline: Any, counter: Counter, tasks: int, profile: bool
) -> dict[str, Any]:
    from pinnace.api import run
    from pinnace.settings import Settings

    settings = Settings.load(env={}, home=home)
    before = counter.snapshot()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    result = run(pipeline, cache=False, parallelism=2, settings=settings)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    after = counter.snapshot()
    if not result.succeeded:
        raise SystemExit(f"run {result.run_id} {result.state}: {result.error}")
    out = {
        "tasks": tasks,
        "wall_s": round(wall, 3),
        "ms_per_task": round(1000 * wall / tasks, 2),
        "tasks_per_s": round(tasks / wall, 1),
        # this process's CPU (driver and executor threads; not the steps): load-proof
        "cpu_ms_per_task": round(1000 * cpu / tasks, 2),
        "transactions": after[0] - before[0],
        "transactions_per_task": round((after[0] - before[0]) / tasks, 2),
        "statements_per_task": round((after[2] - before[2]) / tasks, 2),
    }
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wide", type=int, default=1000, help="tasks of the wide fan-out")
    parser.add_argument("--profile", choices=["chain", "wide"], default=None)
    parser.add_argument("--only", choices=["chain", "wide"], default=None)
    parser.add_argument("--rounds", action="store_true", help="time the driver's rounds")
    args = parser.parse_args(argv)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    trivial = _trivial()
    counter = Counter()
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pinnace-engine-profile-") as scratch:
        home = Path(scratch) / "home"
        os.environ.pop("PINNACE_HOME", None)
        one_run(home, trivial.chain, counter, trivial.N, False)  # warm-up: environments
        rounds = Rounds() if args.rounds else None
        shapes = [("chain", trivial.chain, trivial.N), ("wide", None, args.wide)]
        for shape, pipeline, tasks in shapes:
            if args.only and shape != args.only:
                continue
            if pipeline is None:
                pipeline = trivial.wide_fanout(tasks)
            runs = []
            for i in range(args.repeat):
                profile = args.profile == shape and i == args.repeat - 1
                measured = one_run(home, pipeline, counter, tasks, profile)
                print(json.dumps({"shape": shape, **measured}), flush=True)
                runs.append(measured)
            summary[shape] = {
                key: statistics.median(r[key] for r in runs)
                for key in (
                    "wall_s",
                    "ms_per_task",
                    "tasks_per_s",
                    "cpu_ms_per_task",
                    "transactions_per_task",
                    "statements_per_task",
                )
            }
            if rounds is not None:
                summary[shape]["round_phases_ms"] = rounds.report()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(json.dumps({"medians": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
