"""Trivial pipelines for the per-task overhead: a chain of 20 steps and a fan-out of 20,
and a single step (the CLI's start-up).

pinnace run --no-cache bench/trivial_pipelines.py --pipeline chain
"""

from __future__ import annotations

from pinnace import dsl

N = 20
#: the wide fan-out: throughput of many independent trivial tasks
WIDE = 1000


@dsl.component
def step(x: int) -> int:
    return x + 1


@dsl.pipeline(name="bench-single")
def single(x: int = 0):
    step(x=x)


@dsl.pipeline(name="bench-chain")
def chain(x: int = 0):
    task = step(x=x)
    for _ in range(N - 1):
        task = step(x=task.output)


@dsl.pipeline(name="bench-fanout")
def fanout(x: int = 0):
    for _ in range(N):
        step(x=x)


def wide_fanout(n: int = WIDE):
    """A fan-out of `n` independent trivial tasks."""

    @dsl.pipeline(name=f"bench-fanout-{n}")
    def fanout_n(x: int = 0):
        for _ in range(n):
            step(x=x)

    return fanout_n
