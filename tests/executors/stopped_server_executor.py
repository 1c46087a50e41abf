"""A real executor process for test_executors_forkserver_stopped.py (run as a script).

`python stopped_server_executor.py MODE HOME`: runs one forked step through a LocalExecutor
(MODE "plain": unsandboxed fork servers; "sandboxed": sandboxed ones), prints its fork
servers' pids as one JSON line ({"server": host pid, "process": the pid this process
started, bwrap for a sandboxed one}) and sleeps until killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pinnace import dsl


@dsl.component
def hello() -> str:
    return "hello"


@dsl.pipeline(name="stopped-server-hello")
def greeter():
    hello().set_caching_options(False)


def main(mode: str, home: Path) -> None:
    if mode == "sandboxed":
        from test_executors_forking_sandboxed import Harness

        harness = Harness(home, forked=True)
        executor, result = harness.executor, harness.run(greeter)
        executions = list(result["executions"].values())
    else:
        from test_executors_forkserver import compile_spec, make_driver, make_executor

        executor = make_executor(home)
        driver = make_driver(home, executor)
        run = driver.create_run(compile_spec(home, greeter), cache=False)
        driver.drive(run.run_id)
        executions = driver.metadata.list_executions(run.run_id)
    assert all("forked" in e.environment for e in executions), [e.environment for e in executions]
    assert executor._forking.pool is not None
    servers = [
        {"server": s.server.pid, "process": s.server._process.pid}
        for s in executor._forking.pool._slots.values()
        if s.server is not None
    ]
    print(json.dumps(servers), flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
