"""The engine's trivial-task figures alone: a chain of 20 and a wide fan-out (issue 12).

    .venv/bin/python bench/trivial_engine.py [--repeat 3] [--wide 1000] [--no-wide]

`pinnace.run(cache=False)` in this process, fork servers on, parallelism = CPU count, in a
fresh temporary home (warmed by one chain run). Prints ms per chained task (wall / 20; the
floor of 20 calls in one process is ~2 ms per 20 and ignored) and fan-out tasks per second,
with the load average before each figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _pinnace
import trivial_pipelines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wide", type=int, default=1000)
    parser.add_argument("--no-wide", action="store_true")
    parser.add_argument("--no-fork-servers", action="store_true")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    forked = not args.no_fork_servers
    home = Path(tempfile.mkdtemp(prefix="pinnace-trivial-"))
    try:
        _pinnace.time_engine(home, trivial_pipelines.chain, parallelism=cpus, fork_servers=forked)
        walls = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            wall = _pinnace.time_engine(
                home, trivial_pipelines.chain, parallelism=cpus, fork_servers=forked
            )["wall"]
            walls.append(wall)
            print(
                f"chain of {trivial_pipelines.N}: {wall / trivial_pipelines.N * 1000:.1f} "
                f"ms/task (load {load:.2f})",
                flush=True,
            )
        median = statistics.median(walls) / trivial_pipelines.N * 1000
        print(f"chain median: {median:.1f} ms/task")
        if not args.no_wide:
            load = os.getloadavg()[0]
            wide = trivial_pipelines.wide_fanout(args.wide)
            wall = _pinnace.time_engine(home, wide, parallelism=cpus, fork_servers=forked)["wall"]
            print(
                f"fan-out of {args.wide}: {args.wide / wall:.1f} tasks/s, {wall:.1f} s "
                f"(load {load:.2f})"
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
