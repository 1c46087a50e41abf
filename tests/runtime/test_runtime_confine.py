"""confine.enter: a process joins its attempt's groups whole, however many threads it has."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from runtime_harness import RUNTIME_DIR

from pinnace.executors import _cgroups
from pinnace.executors._supervision import Limits, Supervisor

#: enters the attempt (after starting `sys.argv[2]` extra threads), prints each thread's groups
ENTER = textwrap.dedent(
    f"""
    import json, os, sys, threading
    sys.path.insert(0, {str(RUNTIME_DIR)!r})
    import confine
    stop = threading.Event()
    for _ in range(int(sys.argv[2])):
        threading.Thread(target=stop.wait, daemon=True).start()
    spec = json.loads(sys.argv[1])
    spec["parent"] = os.getppid()
    confine.enter(spec)
    groups = {{}}
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{{tid}}/cgroup") as f:
            groups[tid] = sorted(line.split(":", 2)[2].strip() for line in f
                                 if line.split(":")[1] in ("memory", "cpu,cpuacct", "cpu", ""))
    print(json.dumps(groups))
    stop.set()
    """
)


@pytest.mark.skipif(_cgroups.detect() is None, reason="needs cgroups this process may create")
@pytest.mark.parametrize("threads", [0, 2])
def test_every_thread_of_the_process_joins_the_attempt(threads: int) -> None:
    supervisor = Supervisor()
    attempt = supervisor.contain(f"confine-{threads}", Limits(cpu_limit=1))
    try:
        spec = attempt.child_spec()
        done = subprocess.run(
            [sys.executable, "-c", ENTER, json.dumps(spec), str(threads)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        groups = json.loads(done.stdout)
        assert len(groups) == threads + 1
        wanted = {Path(p).parent.name for p in spec["procs"]}
        assert wanted == {"confine-" + str(threads)}
        for tid, paths in groups.items():
            joined = [p for p in paths if p.endswith(f"/confine-{threads}")]
            assert len(joined) == len(spec["procs"]), (tid, paths)
    finally:
        attempt.close()
        supervisor.close()
