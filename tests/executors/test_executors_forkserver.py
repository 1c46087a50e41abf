"""Fork servers: a forked task behaves as a fresh process would, and nothing leaks between tasks."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pinnace import compiler, dsl
from pinnace.components import create_component_from_func
from pinnace.engine.driver import RunDriver
from pinnace.envs.cache import EnvironmentCache
from pinnace.executors.base import UpcomingTask
from pinnace.executors.forking import program_modules
from pinnace.executors.local import LocalExecutor
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.stores import open_artifact_store, open_metadata_store


@dsl.component
def fingerprint(x: int) -> int:
    """What a task can see of its process; printed as one JSON line."""
    import json
    import os
    import random
    import resource
    import sys

    main = sys.modules["__main__"]
    print(
        json.dumps(
            {
                "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:2]],
                "path0": sys.path[0],
                "cwd": os.getcwd(),
                "env": dict(os.environ),
                "main": [main.__name__, os.path.basename(getattr(main, "__file__", ""))],
                "module": __name__,
                "stdin": os.read(0, 10).decode(),
                "stdout": [sys.stdout.line_buffering, sys.stdout.write_through],
                "stdout_is_stderr": os.path.samestat(os.fstat(1), os.fstat(2)),
                "own_group": os.getpgid(0) == os.getpid(),
                "own_session": os.getsid(0) == os.getpid(),
                "cores": sorted(os.sched_getaffinity(0)),
                "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
                "umask": os.umask(0o22),
                "sigint": str(__import__("signal").getsignal(2)),
                "leaked": hasattr(json, "leaked") or "leaky_module" in sys.modules,
                # a server of an environment without packages skips importlib.metadata
                "metadata": "importlib.metadata" in sys.modules,
            },
            sort_keys=True,
        )
    )
    print("random", random.random(), file=sys.stderr)
    return x + 1


@dsl.component
def leak(x: int) -> int:
    """Module-level state a later task must not see."""
    import json
    import os
    import sys
    import types

    json.leaked = True  # type: ignore[attr-defined]
    sys.modules["leaky_module"] = types.ModuleType("leaky_module")
    os.environ["LEAKED_VARIABLE"] = "1"
    return x


@dsl.component
def explode(x: int) -> int:
    raise ValueError(f"bad value {x}")


@dsl.pipeline(name="forked-same")
def chain(x: int = 1):
    a = fingerprint(x=x).set_env_variable("GREETING", "hello")
    b = leak(x=a.output)
    c = fingerprint(x=b.output).set_cpu_limit("1")
    d = fingerprint(x=c.output)
    explode(x=d.output)


def v1_double(n: int) -> int:
    import sys

    print("argv", len(sys.argv), "main", __name__)
    return n * 2


def v1_explode(n: int) -> int:
    import json

    print(json.dumps({"n": n}))
    raise RuntimeError("v1 failure")


@dsl.pipeline(name="forked-v1")
def v1_chain(n: int = 3):
    double = create_component_from_func(v1_double)(n=n)
    create_component_from_func(v1_explode)(n=n).after(double)


def make_executor(home: Path, fork_servers: bool = True, parallelism: int = 2) -> LocalExecutor:
    return LocalExecutor(
        env_cache=EnvironmentCache(home / "envs"),
        runtime_path=materialize_runtime(home),
        parallelism=parallelism,
        use_current_python=True,
        fork_servers=fork_servers,
        artifacts=open_artifact_store(str(home / "artifacts")),
        work_dir=home / "work",
    )


def make_driver(home: Path, executor: LocalExecutor) -> RunDriver:
    return RunDriver(
        metadata=open_metadata_store("memory://"),
        artifacts=open_artifact_store(str(home / "artifacts")),
        executor=executor,
        work_dir=home / "work",
        logs_dir=home / "logs",
    )


def compile_spec(tmp_path: Path, pipeline: Any) -> dict[str, Any]:
    path = tmp_path / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def run_once(home: Path, spec: dict[str, Any], fork_servers: bool) -> dict[str, Any]:
    """Run `spec` in a fresh home; task states, errors, outputs, logs and how tasks started."""
    executor = make_executor(home, fork_servers)
    driver = make_driver(home, executor)
    try:
        run = driver.create_run(spec, cache=False)
        final = driver.drive(run.run_id)
        tasks = {t.task_name: t for t in driver.metadata.list_tasks(run.run_id)}
        executions = driver.metadata.list_executions(run.run_id)
    finally:
        executor.close()

    def norm(text: str) -> str:
        text = text.replace(str(home), "HOME").replace(run.run_id, "RUN")
        return re.sub(r'"PINNACE_ATTEMPT": "\w+"', '"PINNACE_ATTEMPT": "ID"', text)

    return {
        "state": final.state.value,
        "states": {n: t.state.value for n, t in tasks.items()},
        "errors": {n: norm(t.error or "") for n, t in tasks.items()},
        "outputs": norm(json.dumps({n: t.outputs for n, t in tasks.items()}, sort_keys=True)),
        "logs": {n: norm(Path(t.log_path).read_text()) for n, t in tasks.items() if t.log_path},
        "forked": sum("forked" in e.environment for e in executions),
        "servers": len(
            {e.environment["forked"]["server_pid"] for e in executions if "forked" in e.environment}
        ),
        "fresh": [e.environment.get("fresh") for e in executions if "fresh" in e.environment],
    }


def run_both(tmp_path: Path, pipeline: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = compile_spec(tmp_path, pipeline)
    return run_once(tmp_path / "fresh", spec, False), run_once(tmp_path / "forked", spec, True)


def fingerprints(log: str) -> list[dict[str, Any]]:
    """The fingerprint lines of a log; the attempt's marker (its execution id) checked apart."""
    found = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    for seen in found:
        assert seen["env"].pop("PINNACE_ATTEMPT")
    return found


def without_random(log: str) -> str:
    return re.sub(r"^random .*$", "random", log, flags=re.MULTILINE)


def pinnace_processes(root: Path) -> list[int]:
    """Live processes whose working folder or environment names `root` (tasks, servers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cwd.startswith(str(root)):
            found.append(int(entry.name))
    return found


def wait_until(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# -- equivalence --------------------------------------------------------------------------


def test_forked_tasks_give_the_same_outputs_logs_and_errors_as_fresh_ones(tmp_path):
    fresh, forked = run_both(tmp_path, chain)
    assert fresh["forked"] == 0
    assert forked["forked"] == 5, forked["fresh"]
    assert forked["servers"] == 3  # the CPU-limited task's variables differ; the rest share
    assert fresh["state"] == forked["state"] == "FAILED"
    for key in ("states", "errors", "outputs"):
        assert fresh[key] == forked[key], key
    for name in fresh["logs"]:
        assert without_random(fresh["logs"][name]) == without_random(forked["logs"][name]), name
    failed = forked["logs"]["explode"]
    assert "Traceback (most recent call last)" in failed
    assert "ValueError: bad value 4" in failed
    assert "forkserver" not in failed and "runpy" not in failed
    assert pinnace_processes(tmp_path) == []


def test_a_forked_task_sees_its_own_process_not_the_servers(tmp_path):
    fresh, forked = run_both(tmp_path, chain)
    for name in ("fingerprint", "fingerprint-2", "fingerprint-3"):
        cold, warm = fingerprints(fresh["logs"][name]), fingerprints(forked["logs"][name])
        assert cold == warm, name
        (seen,) = warm
        assert seen["argv"] == ["__main__.py", "--component_module_path"]
        assert seen["path0"] == seen["cwd"] and "HOME/work" in seen["cwd"]
        assert seen["main"] == ["__main__", "__main__.py"]
        assert seen["module"] == "ephemeral_component"
        assert seen["stdin"] == "" and seen["stdout_is_stderr"]
        assert seen["own_group"] and seen["own_session"]
        assert seen["leaked"] is False  # the `leak` task ran just before, in the same server
        assert "LEAKED_VARIABLE" not in seen["env"]
    first = fingerprints(forked["logs"]["fingerprint"])[0]
    limited = fingerprints(forked["logs"]["fingerprint-2"])[0]
    assert first["env"]["GREETING"] == "hello" and "GREETING" not in limited["env"]
    assert len(limited["cores"]) == 1 and limited["env"]["OMP_NUM_THREADS"] == "1"


def test_each_forked_task_draws_its_own_random_numbers(tmp_path):
    forked = run_once(tmp_path, compile_spec(tmp_path, chain), True)
    draws = [
        re.search(r"^random (.*)$", forked["logs"][n], re.MULTILINE)[1]  # type: ignore[index]
        for n in ("fingerprint", "fingerprint-3")  # same server: same variables, no CPU limit
    ]
    assert draws[0] != draws[1]


def test_a_kfp_v1_program_runs_and_fails_the_same_way_forked(tmp_path):
    fresh, forked = run_both(tmp_path, v1_chain)
    assert forked["forked"] == 2
    for key in ("state", "states", "errors", "outputs", "logs"):
        assert fresh[key] == forked[key], key
    log = forked["logs"]["v1-explode"]
    assert re.search(r'File ".*ephemeral_component.py", line \d+, in <module>', log), log
    assert "RuntimeError: v1 failure" in log
    assert "forkserver" not in log and "runpy" not in log
    assert "main __main__" in forked["logs"]["v1-double"]


# -- when tasks start fresh ---------------------------------------------------------------


@dsl.component
def opted_out(x: int) -> int:
    return x


@dsl.pipeline(name="forked-opt-out")
def opt_out(x: int = 1):
    opted_out(x=x).set_env_variable("PINNACE_FORK_SERVERS", "0")


def test_a_task_can_opt_out_of_forking(tmp_path):
    forked = run_once(tmp_path, compile_spec(tmp_path, opt_out), True)
    assert forked["state"] == "SUCCEEDED"
    assert forked["forked"] == 0
    assert forked["fresh"] == ["opted out (PINNACE_FORK_SERVERS)"]


@dsl.component
def threaded(x: int) -> int:
    import threading_at_import  # noqa: F401

    return x


def test_an_environment_whose_imports_start_threads_starts_tasks_fresh(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "threading_at_import.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    )

    @dsl.pipeline(name="forked-threads")
    def pipeline(x: int = 1):
        threaded(x=x).set_env_variable("PYTHONPATH", str(modules))

    forked = run_once(tmp_path / "home", compile_spec(tmp_path, pipeline), True)
    assert forked["state"] == "SUCCEEDED"
    assert forked["forked"] == 0
    assert forked["fresh"] == ["unsafe to fork: its imports started 1 thread(s)"]


# -- crashes, cancel, close -----------------------------------------------------------------


@dsl.component
def sleepy(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


@dsl.pipeline(name="forked-sleep")
def sleep_pipeline(seconds: float = 30.0):
    sleepy(seconds=seconds)


def test_a_fork_server_crash_fails_only_the_tasks_in_flight_and_it_is_restarted(tmp_path):
    spec = compile_spec(tmp_path, sleep_pipeline)
    executor = make_executor(tmp_path)
    driver = make_driver(tmp_path, executor)
    try:
        run = driver.create_run(spec, cache=False)

        killed: list[Any] = []

        def crash() -> None:
            # In flight, and handed to its child: the server has forked the next spare then
            # (killed before the request was sent, the task would start fresh instead).
            busy = lambda: [  # noqa: E731
                s
                for s in executor.fork_servers()
                if s["in_flight"] and len(server_children(s["pid"])) >= 2
            ]
            if wait_until(lambda: bool(busy())):
                server = busy()[0]
                os.kill(server["pid"], signal.SIGKILL)
                killed.append(server)
            else:
                killed.append(executor.fork_servers())

        import threading

        killer = threading.Thread(target=crash)
        killer.start()
        first = driver.drive(run.run_id)
        killer.join()
        assert killed and isinstance(killed[0], dict), killed
        (task,) = driver.metadata.list_tasks(run.run_id)
        (execution,) = driver.metadata.list_executions(run.run_id)
        assert "forked" in execution.environment, execution.environment
        assert first.state.value == "FAILED"
        assert "fork server exited" in (task.error or "")
        assert "fork server exited" in Path(task.log_path or "").read_text()

        again = driver.create_run(spec, {"seconds": 0.1}, cache=False)
        assert driver.drive(again.run_id).state.value == "SUCCEEDED"
        (execution,) = driver.metadata.list_executions(again.run_id)
        assert "forked" in execution.environment  # from a new server
    finally:
        executor.close()
    assert wait_until(lambda: pinnace_processes(tmp_path) == [], 10)


def test_cancel_kills_a_forked_task_and_close_ends_the_servers(tmp_path):
    spec = compile_spec(tmp_path, sleep_pipeline)
    executor = make_executor(tmp_path)
    driver = make_driver(tmp_path, executor)
    try:
        run = driver.create_run(spec, cache=False)
        import threading

        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(run=driver.drive(run.run_id)))
        thread.start()
        assert wait_until(lambda: any(s["in_flight"] for s in executor.fork_servers()))
        (execution,) = driver.metadata.list_executions(run.run_id)
        executor.cancel(execution.execution_id)
        thread.join(timeout=30)
        (task,) = driver.metadata.list_tasks(run.run_id)
        assert task.error == "canceled"
        stats = executor.fork_servers()
        assert stats and stats[0]["rss"] > 0 and stats[0]["pss"] > 0
    finally:
        executor.close()
    assert wait_until(lambda: pinnace_processes(tmp_path) == [], 10)


def test_upcoming_tasks_start_their_servers_early(tmp_path):
    spec = compile_spec(tmp_path, sleep_pipeline)
    container = next(iter(spec["deploymentSpec"]["executors"].values()))["container"]
    executor = make_executor(tmp_path)
    try:
        hint = UpcomingTask(
            hint="r/t",
            run_id="r",
            image=container["image"],
            command=tuple(container["command"]),
            args=tuple(container["args"]),
        )
        assert executor.prestart([hint]) == ["r/t"]
        assert wait_until(lambda: len(executor.fork_servers()) == 1)
    finally:
        executor.close()
    assert wait_until(lambda: pinnace_processes(tmp_path) == [], 10)


def test_fork_servers_off_starts_nothing_ahead(tmp_path):
    executor = make_executor(tmp_path, fork_servers=False)
    try:
        hint = UpcomingTask(hint="r/t", run_id="r", image="", command=("echo",), args=())
        assert executor.prestart([hint]) == ["r/t"]
        assert executor.fork_servers() == []
    finally:
        executor.close()


def test_program_modules_finds_imports_everywhere_but_kfp_and_relative():
    text = (
        "import kfp\nfrom kfp import dsl\nimport os, json as j\n"
        "def f():\n    import pandas as pd\n    from sklearn.linear_model import A, B\n"
        "    from . import sibling\n    from x.y import *\n"
    )
    assert program_modules(text) == [
        ("os", []),
        ("json", []),
        ("pandas", []),
        ("sklearn.linear_model", ["A", "B"]),
        ("x.y", []),
    ]
    assert program_modules("def (:") == []


def test_bytecode_writing_is_on_only_in_environments_pinnace_built(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    executor = make_executor(tmp_path, fork_servers=False)
    try:
        managed, _ = executor._task_env(None, {}, [], True)
        host, _ = executor._task_env(None, {}, [], False)
        own, _ = executor._task_env(None, {"PYTHONDONTWRITEBYTECODE": "1"}, [], True)
    finally:
        executor.close()
    assert "PYTHONDONTWRITEBYTECODE" not in managed
    assert host["PYTHONDONTWRITEBYTECODE"] == "1"
    assert own["PYTHONDONTWRITEBYTECODE"] == "1"


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork servers need os.fork")


@dsl.component
def indirect() -> bool:
    import importlib
    import sys

    preloaded = "email.mime.text" in sys.modules
    importlib.import_module("email.mime.text")  # not an import statement: learned from the run
    print("preloaded", preloaded)
    return preloaded


@dsl.pipeline(name="forked-learning")
def learning():
    indirect()


def test_what_tasks_import_is_learned_and_imported_by_the_next_servers(tmp_path):
    spec = compile_spec(tmp_path, learning)
    first = run_once(tmp_path, spec, True)
    second = run_once(tmp_path, spec, True)  # a new executor, as the next CLI run
    assert first["forked"] == second["forked"] == 1
    assert "preloaded False" in first["logs"]["indirect"]
    assert "preloaded True" in second["logs"]["indirect"]
    (memory,) = (tmp_path / "forkservers" / "learned").glob("*.json")
    assert "email.mime.text" in json.loads(memory.read_text())["modules"]


@dsl.component
def indirect_after_removal() -> bool:
    import importlib
    import sys

    sys.modules.pop("json", None)  # a module of the server's dropped: the table is compared whole
    importlib.import_module("email.mime.text")
    return "json" in sys.modules


def test_what_a_task_imports_is_learned_when_it_removed_modules_too(tmp_path):
    @dsl.pipeline(name="forked-learning-removal")
    def pipeline():
        indirect_after_removal()

    outcome = run_once(tmp_path, compile_spec(tmp_path, pipeline), True)
    assert outcome["state"] == "SUCCEEDED" and outcome["forked"] == 1
    (memory,) = (tmp_path / "forkservers" / "learned").glob("*.json")
    assert "email.mime.text" in json.loads(memory.read_text())["modules"]


@dsl.component
def threads_later() -> int:
    import importlib

    importlib.import_module("threading_at_import")  # learned, then found unsafe to preload
    return 1


def test_learned_imports_that_start_threads_are_forgotten_not_fatal(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "threading_at_import.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    )

    @dsl.pipeline(name="forked-learned-threads")
    def pipeline():
        threads_later().set_env_variable("PYTHONPATH", str(modules))

    spec = compile_spec(tmp_path, pipeline)
    home = tmp_path / "home"
    first = run_once(home, spec, True)
    (memory,) = (home / "forkservers" / "learned").glob("*.json")
    assert "threading_at_import" in json.loads(memory.read_text())["modules"]
    second = run_once(home, spec, True)
    third = run_once(home, spec, True)
    assert first["forked"] == second["forked"] == third["forked"] == 1  # started without it
    assert json.loads(memory.read_text()) == {"modules": [], "off": True}


@dsl.component
def cuda_like() -> int:
    import cuda_at_import  # noqa: F401

    return 1


def test_an_environment_whose_imports_load_the_cuda_driver_starts_tasks_fresh(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    # Stands in for a library initialising CUDA at import: libcuda mapped in the process.
    (modules / "cuda_at_import.py").write_text(
        "import mmap, os\n"
        "_f = open(os.path.join(os.path.dirname(__file__), 'libcuda.so.1'), 'wb+')\n"
        "_f.write(b'\\0' * 4096)\n_f.flush()\n"
        "_m = mmap.mmap(_f.fileno(), 4096)\n"
    )

    @dsl.pipeline(name="forked-cuda")
    def pipeline():
        cuda_like().set_env_variable("PYTHONPATH", str(modules))

    forked = run_once(tmp_path / "home", compile_spec(tmp_path, pipeline), True)
    assert forked["state"] == "SUCCEEDED"
    assert forked["fresh"] == ["unsafe to fork: its imports loaded the CUDA driver"]


@dsl.component
def hog(megabytes: int) -> int:
    import time

    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(2)
    return len(block)


@dsl.pipeline(name="forked-memory")
def memory_pipeline():
    hog(megabytes=300).set_memory_limit("100M")


def test_a_forked_task_is_held_to_its_memory_limit_as_a_fresh_one(tmp_path):
    fresh, forked = run_both(tmp_path, memory_pipeline)
    assert forked["forked"] == 1
    assert fresh["state"] == forked["state"] == "FAILED"
    assert fresh["errors"]["hog"].startswith("exceeded its memory limit of 100M")
    assert forked["errors"]["hog"].startswith("exceeded its memory limit of 100M")


@dsl.component
def temporary_folder() -> str:
    import os
    import tempfile

    import tmp_at_import  # noqa: F401  # asks for the temporary folder while importing

    print("tmp", tempfile.gettempdir(), "home", os.path.expanduser("~"))
    return tempfile.gettempdir()


def test_a_forked_task_gets_its_own_temporary_folder_and_home(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "tmp_at_import.py").write_text(
        "import tempfile\nAT_IMPORT = tempfile.gettempdir()\n"
    )

    @dsl.pipeline(name="forked-tmp")
    def pipeline():
        temporary_folder().set_env_variable("PYTHONPATH", str(modules))

    fresh, forked = run_both(tmp_path, pipeline)
    assert forked["forked"] == 1
    assert fresh["logs"] == forked["logs"]
    assert fresh["outputs"] == forked["outputs"]
    assert "HOME/work/RUN" in forked["logs"]["temporary-folder"]


def test_a_closed_server_runs_its_libraries_exit_handlers_and_exits_cleanly(tmp_path):
    """The server skips the interpreter's teardown on exit, not what its imports asked for."""
    from pinnace.executors.forkserver import ForkServer, ServerSpec

    library = tmp_path / "lib"
    library.mkdir()
    mark = tmp_path / "exit-handler-ran"
    (library / "exit_mark.py").write_text(
        "import atexit\n"
        "print('imported exit_mark')\n"
        f"atexit.register(lambda: open({str(mark)!r}, 'w').write('ran'))\n"
    )
    runtime = materialize_runtime(tmp_path / "home")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{runtime}:{library}"}
    spec = ServerSpec(key="k", environment="env", python=sys.executable, env=env)
    server = ForkServer(spec, [["exit_mark", []]], tmp_path / "scratch")
    output = server._output
    assert server.report.get("failed") in ([], None), server.report
    process = server._process
    server._sock.shutdown(socket.SHUT_RDWR)  # as close() does, keeping the output file
    server._sock.close()
    assert process.wait(timeout=30) == 0
    assert mark.read_text() == "ran"
    assert output.read_text().endswith("imported exit_mark\n")


@dsl.component
def plain_step(x: int) -> int:
    return x + 1


@dsl.component
def later_program() -> bool:
    import sys

    had = "email.mime.text" in sys.modules  # imported by the server for this program
    import email.mime.text  # noqa: F401

    return had


def server_children(server_pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text()
    except OSError:
        return []  # the server is gone
    return [int(pid) for pid in text.split()]


def test_the_next_task_runs_in_the_child_forked_ahead_and_a_preload_replaces_it(tmp_path):
    @dsl.pipeline(name="forked-spare")
    def first():
        plain_step(x=1)

    @dsl.pipeline(name="forked-spare-later")
    def later():
        later_program()

    executor = make_executor(tmp_path)
    driver = make_driver(tmp_path, executor)
    try:

        def forked_pid(pipeline: Any) -> int:
            run = driver.create_run(compile_spec(tmp_path, pipeline), cache=False)
            assert driver.drive(run.run_id).state.value == "SUCCEEDED"
            (execution,) = driver.metadata.list_executions(run.run_id)
            return int(execution.environment["forked"]["pid"])

        forked_pid(first)
        (server,) = executor.fork_servers()
        assert wait_until(lambda: len(server_children(server["pid"])) == 1)
        (spare,) = server_children(server["pid"])
        assert forked_pid(first) == spare  # it was waiting before the task was submitted
        assert wait_until(lambda: len(server_children(server["pid"])) == 1)
        (stale,) = server_children(server["pid"])
        # A new program: the server imports its modules first; the child forked before that
        # lacks them, so it is ended and the task gets one forked after.
        run = driver.create_run(compile_spec(tmp_path, later), cache=False)
        assert driver.drive(run.run_id).state.value == "SUCCEEDED"
        (task,) = driver.metadata.list_tasks(run.run_id)
        assert task.outputs["parameters"]["Output"] is True, task.outputs
        (execution,) = driver.metadata.list_executions(run.run_id)
        assert execution.environment["forked"]["pid"] != stale
        assert wait_until(lambda: stale not in server_children(server["pid"]))
    finally:
        executor.close()
    assert wait_until(lambda: pinnace_processes(tmp_path) == [], 10)


def test_a_task_handed_to_the_spare_reports_its_own_start_time(tmp_path):
    """The server reads a spare's start time when it forks it, not on the request's path;
    each task (the spare that took it) reports its own process's start time."""
    from pinnace.executors import _proctree
    from pinnace.executors.forkserver import ForkServer, ServerSpec

    runtime = materialize_runtime(tmp_path)
    script = tmp_path / "wait.py"
    script.write_text("import time\ntime.sleep(0.3)\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(runtime)}
    spec = ServerSpec(key="k", environment="e", python=sys.executable, env=env, runtime=True)
    server = ForkServer(spec, [], tmp_path)
    try:
        pids = set()
        for n in range(3):
            log = os.open(tmp_path / f"log{n}", os.O_WRONLY | os.O_CREAT, 0o600)
            child = server.fork(
                f"t{n}",
                kind="script",
                target=str(script),
                args=[],
                cwd=str(tmp_path),
                env=env,
                stdout=log,
                supervision={},
            )
            os.close(log)
            assert child.start_time == int(_proctree.start_ticks(child.pid))
            assert child.wait(10) == 0
            pids.add(child.pid)
        assert len(pids) == 3
    finally:
        server.close()


def test_what_a_task_imported_is_learned_even_when_it_ends_before_it_is_watched():
    """A fast task can end (the reader thread reports it) before the executor thread that
    forked it has set what to do at its end: that is then done at once, once."""
    from pinnace.executors.forkserver import ForkedChild

    calls: list[str] = []
    early = ForkedChild("early")
    early._set_ended(0)
    early.on_end = lambda: calls.append("early")
    late = ForkedChild("late")
    late.on_end = lambda: calls.append("late")
    late._set_ended(0)
    lost = ForkedChild("lost")
    lost._set_ended(-9, "the environment's fork server exited")
    lost.on_end = lambda: calls.append("lost")
    assert calls == ["early", "late"]
