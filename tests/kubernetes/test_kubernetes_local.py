"""kfp-kubernetes settings on a local run: secrets, config maps and field paths as env."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from pinnace import api, dsl, kubernetes
from pinnace.settings import Settings


@dsl.component
def env_of(names: list) -> dict:
    import os

    return {name: os.environ.get(name, "<unset>") for name in names}


@dsl.component
def secret_name() -> str:
    return "db"


NAMES = ["PASSWORD", "USER", "TOKEN", "LEVEL", "POD", "TEAM", "MISSING"]


@dsl.pipeline(name="k8s-local")
def k8s_local(which: str = "api", unset: str | None = None):
    task = env_of(names=NAMES)
    kubernetes.use_secret_as_env(task, secret_name().output, {"password": "PASSWORD"})
    kubernetes.use_secret_as_env(task, "db", {"user": "USER"})
    kubernetes.use_secret_as_env(task, which, {"token": "TOKEN"})
    kubernetes.use_secret_as_env(task, "absent", {"x": "MISSING"}, optional=True)
    kubernetes.use_secret_as_env(task, unset, {"x": "MISSING"})  # unset optional input: skipped
    kubernetes.use_config_map_as_env(task, "settings", {"level": "LEVEL"})
    kubernetes.add_pod_label(task, "team", "ml")
    kubernetes.use_field_path_as_env(task, "TEAM", "metadata.labels['team']")
    kubernetes.use_field_path_as_env(task, "POD", "metadata.name")
    kubernetes.add_node_selector(task, "gpu", "a100")
    kubernetes.add_toleration(task, key="gpu", operator="Exists")


def _pinnace(home: Path, *args: str) -> subprocess.CompletedProcess:
    pinnace = Path(sys.executable).parent / "pinnace"
    return subprocess.run(
        [str(pinnace), "--home", str(home), *args], capture_output=True, text=True, check=True
    )


def test_secrets_and_config_maps_come_from_the_local_stores(tmp_path):
    home = tmp_path / "home"
    _pinnace(home, "secrets", "set", "db", "password=s3cret", "user=me")
    _pinnace(home, "secrets", "set", "api", "token=t0k")
    _pinnace(home, "configmaps", "set", "settings", "level=debug")
    secret_file = home / "secrets" / "db.json"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    listing = _pinnace(home, "secrets", "list").stdout
    assert "password" in listing and "s3cret" not in listing

    result = api.run(k8s_local, settings=Settings.load(home=str(home)), use_current_python=True)
    assert result.state == "SUCCEEDED", result.error
    env = result.task("env-of").outputs["Output"]
    assert env["PASSWORD"] == "s3cret" and env["USER"] == "me" and env["TOKEN"] == "t0k"
    assert env["LEVEL"] == "debug" and env["TEAM"] == "ml" and env["MISSING"] == "<unset>"
    assert env["POD"].startswith(result.run_id[:8])
    log = Path(result.task("env-of").log_path).read_text()
    assert "ignoring Kubernetes settings" in log and "node selector" in log
    assert "s3cret" not in log


def test_a_missing_secret_fails_the_task_with_a_hint(tmp_path):
    result = api.run(
        k8s_local, settings=Settings.load(home=str(tmp_path / "home")), use_current_python=True
    )
    assert result.state == "FAILED"
    assert "pinnace secrets set" in (result.task("env-of").error or result.error or "")
