"""Compile (and plan) time of wide pipelines: the fan-out and a chain of N trivial tasks.

    .venv/bin/python bench/compile_time.py [--tasks 1000] [--repeat 5]

Prints the first compile in this process (imports of the protos included) and the median
of `--repeat` warm ones, `compile_documents` (DSL -> normalized IR) and `make_plan` apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import trivial_pipelines

from pinnace import dsl


def chain_of(n: int):
    @dsl.pipeline(name=f"bench-chain-{n}")
    def chain_n(x: int = 0):
        task = trivial_pipelines.step(x=x)
        for _ in range(n - 1):
            task = trivial_pipelines.step(x=task.output)

    return chain_n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from pinnace.compiler import compile_documents
    from pinnace.engine.plan import make_plan

    pipelines = {
        "fan-out": trivial_pipelines.wide_fanout(args.tasks),
        "chain": chain_of(args.tasks),
    }
    for name, pipeline in pipelines.items():
        compiles, plans = [], []
        for _ in range(args.repeat + 1):
            started = time.perf_counter()
            spec, _ = compile_documents(pipeline)
            compiled = time.perf_counter()
            make_plan(spec, None)
            compiles.append(compiled - started)
            plans.append(time.perf_counter() - compiled)
        print(
            f"{name} of {args.tasks}: compile first {compiles[0]:.3f} s, warm "
            f"{statistics.median(compiles[1:]):.3f} s; plan {statistics.median(plans):.3f} s "
            f"(load {os.getloadavg()[0]:.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
