"""Escapes tried from inside real steps of a (sandboxed, the default) server's runs.

Each step is an ordinary user's component that attacks: reads the environment for the
server's secrets, opens and changes the metadata database, lists other runs' artifacts,
writes outside its folder, hands back links as outputs, reports an output path elsewhere,
and leaves a process tree behind. Every attack must fail, and the server must stay whole.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_support import LiveServer

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.dsl import Dataset, Output

CANARY = "PINNACE_TEST_SERVER_SECRET"


@dsl.component
def probe(home: str, db: str, artifacts: str) -> str:
    import json
    import os
    import sqlite3
    import subprocess

    found: dict = {"env": sorted(os.environ)}
    found["home_visible"] = os.path.exists(home) and sorted(os.listdir(home))
    try:
        with open(db, "rb") as f:
            found["db_read"] = len(f.read(16))
    except OSError as exc:
        found["db_read"] = type(exc).__name__
    try:
        conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True)
        conn.execute("UPDATE users SET is_admin = 1")
        conn.commit()
        found["db_write"] = "changed"
    except Exception as exc:
        found["db_write"] = type(exc).__name__
    found["artifacts"] = os.listdir(artifacts) if os.path.isdir(artifacts) else None
    writes = {}
    for target in (
        "/usr/pinnace-escape",
        "/etc/pinnace-escape",
        "/pinnace-escape",
        os.path.join(home, "pinnace-escape"),
        "/sys/pinnace-escape",
        "/proc/sys/kernel/hostname",
        os.path.join(os.environ["HOME"], "fine"),
        "/tmp/fine",
    ):
        try:
            with open(target, "w") as f:
                f.write("x")
            writes[target] = "written"
        except OSError as exc:
            writes[target] = type(exc).__name__
    found["writes"] = writes
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    found["cap_eff"] = status["CapEff"].strip()
    found["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
    found["remount"] = subprocess.run(
        ["mount", "-o", "remount,rw", "/usr"], capture_output=True
    ).returncode
    found["hostname"] = open("/proc/sys/kernel/hostname").read().strip()
    return json.dumps(found)


@dsl.component
def link_out(kind: str, db: str, out: Output[Dataset]):
    import os

    if kind == "data":
        with open(out.path, "w") as f:
            f.write("another run's data")
    elif kind == "symlink-to-db":
        os.symlink(db, out.path)
    elif kind == "dangling":
        os.symlink("/nonexistent-pinnace/pinnace.db", out.path)
    elif kind == "link-in-folder":
        os.makedirs(out.path)
        with open(os.path.join(out.path, "a.txt"), "w") as f:
            f.write("a")
        os.symlink("/etc/passwd", os.path.join(out.path, "passwd"))
    elif kind == "symlink-to-dir":
        os.symlink("/usr/lib", out.path)
    elif kind == "hardlink":
        with open(out.path + ".orig", "w") as f:
            f.write("x")
        os.link(out.path + ".orig", out.path)
    elif kind == "fifo":
        os.mkfifo(out.path)
    elif kind == "path-elsewhere":
        out.set_path("/etc/hostname")


@dsl.component
def bomb(count: int) -> int:
    import subprocess

    for _ in range(count):  # a bounded fork bomb: the tree outlives its step's main process
        subprocess.Popen(["sleep", "987654"], start_new_session=True)
    return count


@dsl.pipeline(name="escape-probe")
def probe_pipeline(home: str, db: str, artifacts: str):
    probe(home=home, db=db, artifacts=artifacts).set_caching_options(False)


@dsl.pipeline(name="escape-links")
def links_pipeline(kind: str, db: str):
    link_out(kind=kind, db=db).set_caching_options(False)


@dsl.pipeline(name="escape-bomb")
def bomb_pipeline(count: int = 100):
    bomb(count=count).set_caching_options(False)


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _run(server: LiveServer, token: str, pipeline: Any, params: dict[str, Any]) -> str:
    response = httpx.post(
        server.url + "/apis/v2beta1/runs",
        json={
            "display_name": "escape",
            "pipeline_spec": compile_pipeline(pipeline),
            "runtime_config": {"parameters": params},
        },
        headers=h(token),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["run_id"])


def _finished(server: LiveServer, token: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = httpx.get(f"{server.url}/apis/v2beta1/runs/{run_id}", headers=h(token)).json()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return dict(run)
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} did not finish")


def _output(server: LiveServer, run_id: str) -> Any:
    store = server.app.state.ctx.backend.metadata
    task = next(t for t in store.list_tasks(run_id) if t.outputs)
    return json.loads(task.outputs["parameters"]["Output"])


@pytest.fixture(scope="module")
def mallory(server: LiveServer) -> str:
    os.environ[CANARY] = "the-server-s-secret"  # the live server runs in this process
    return server.add_user("mallory-sbx", "mallory-password")


def test_a_step_sees_no_server_secret_no_database_and_cannot_write_outside(
    server: LiveServer, mallory: str, admin_token: str
) -> None:
    home = server.settings.home
    db = home / "pinnace.db"
    # another run's artifacts exist before the probe runs
    other = _run(server, admin_token, links_pipeline, {"kind": "data", "db": ""})
    assert _finished(server, admin_token, other)["state"] == "SUCCEEDED"
    assert any(p.is_file() for p in (Path(server.settings.artifact_root) / other).rglob("*"))
    run_id = _run(
        server,
        mallory,
        probe_pipeline,
        {"home": str(home), "db": str(db), "artifacts": server.settings.artifact_root},
    )
    assert _finished(server, mallory, run_id)["state"] == "SUCCEEDED"
    found = _output(server, run_id)
    # (forked from its owner's sandboxed fork server, a server's default: docs/fork-servers.md)
    (execution,) = server.app.state.ctx.backend.metadata.list_executions(run_id)
    assert execution.environment["forked"]["sandboxed"] is True, execution.environment
    assert CANARY not in found["env"] and "PINNACE_ADMIN_PASSWORD" not in found["env"]
    assert not {"PINNACE_HOME", "PINNACE_DATABASE_URL"} & set(found["env"])
    # its own task folder's path and the runtime (read-only), nothing else of the home
    assert found["home_visible"] == ["runtime", "work"]
    assert found["db_read"] == "FileNotFoundError"
    assert found["db_write"] == "OperationalError"
    assert found["artifacts"] is None  # no run's artifacts but its own inputs
    written = {k for k, v in found["writes"].items() if v == "written"}
    assert written == {k for k in found["writes"] if k.endswith("fine")}  # its HOME and /tmp
    assert found["cap_eff"] == "0000000000000000"  # root in the sandbox holds no capability
    assert found["remount"] != 0
    assert found["hostname"] == "pinnace-step" and found["processes"] < 10  # own PID space
    # the database is whole and no one became admin
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        admins = {r[0] for r in conn.execute("SELECT name FROM users WHERE is_admin")}
    assert admins == {"admin"}
    for target in ("/usr/pinnace-escape", "/etc/pinnace-escape", "/pinnace-escape"):
        assert not os.path.exists(target)
    assert not (home / "pinnace-escape").exists()


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("symlink-to-db", "symbolic link"),
        ("link-in-folder", "symbolic link"),
        ("symlink-to-dir", "symbolic link"),
        ("hardlink", "hard link"),
        ("fifo", "special file"),
        ("path-elsewhere", "outside its folder"),
    ],
)
def test_outputs_that_are_links_fail_the_task_and_store_nothing(
    server: LiveServer, mallory: str, kind: str, problem: str
) -> None:
    db = server.settings.home / "pinnace.db"
    run_id = _run(server, mallory, links_pipeline, {"kind": kind, "db": str(db)})
    run = _finished(server, mallory, run_id)
    assert run["state"] == "FAILED"
    assert problem in json.dumps(run.get("error") or run), run.get("error")
    assert not (Path(server.settings.artifact_root) / run_id).exists() or not any(
        p.is_file() for p in (Path(server.settings.artifact_root) / run_id).rglob("*")
    )
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_dangling_link_creates_nothing(server: LiveServer, mallory: str) -> None:
    run_id = _run(server, mallory, links_pipeline, {"kind": "dangling", "db": ""})
    _finished(server, mallory, run_id)  # an unwritten output or a refused one: either way
    assert not Path("/nonexistent-pinnace").exists()


def test_a_steps_process_tree_dies_with_it(server: LiveServer, mallory: str) -> None:
    run_id = _run(server, mallory, bomb_pipeline, {"count": 100})
    assert _finished(server, mallory, run_id)["state"] == "SUCCEEDED"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _sleepers():
        time.sleep(0.2)
    assert _sleepers() == 0


def _sleepers() -> int:
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00987654\x00":
                    count += 1
            except OSError:
                pass
    return count


@dsl.component
def many_files(count: int, out: Output[Dataset]):
    import os

    os.makedirs(out.path)
    for i in range(count):
        with open(os.path.join(out.path, f"{i}.txt"), "w") as f:
            f.write("x")


@dsl.pipeline(name="escape-many-files")
def many_files_pipeline(count: int = 50):
    many_files(count=count).set_caching_options(False)


def test_an_output_over_the_file_limit_fails_its_task(tmp_path: Path) -> None:
    import dataclasses

    from server_support import live_server

    from pinnace.backend import open_backend
    from pinnace.settings import Settings

    env = {"PINNACE_MAX_OUTPUT_FILES": "20"}
    configured = open_backend(Settings.load(env=env, home=str(tmp_path / "other")), settle=False)
    assert configured.artifacts.output_limits.max_files == 20
    configured.close()
    with live_server(tmp_path / "home") as live:
        artifacts = live.app.state.ctx.backend.artifacts
        assert artifacts.output_limits.max_files == 100_000  # the default
        artifacts.output_limits = dataclasses.replace(artifacts.output_limits, max_files=20)
        token = live.login()
        run_id = _run(live, token, many_files_pipeline, {"count": 50})
        run = _finished(live, token, run_id)
        assert run["state"] == "FAILED" and "more than 20 files" in json.dumps(run), run
