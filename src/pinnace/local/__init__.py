"""kfp's local runner API on Pinnace's engine (`from kfp import local` under the alias).

from pinnace import dsl, local

local.init(runner=local.SubprocessRunner())

@dsl.component
def add(a: int, b: int) -> int:
    return a + b

task = add(a=1, b=2)      # runs now, on Pinnace's engine
assert task.output == 3
"""

from __future__ import annotations

from ._config import DockerRunner, LocalExecutionConfig, SubprocessRunner, init

__all__ = ["DockerRunner", "LocalExecutionConfig", "SubprocessRunner", "init"]
