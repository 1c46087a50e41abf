"""`pinnace --help`, start-up imports, and the Python API on a small pipeline (fast)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from e2e_support import FIXTURES, PINNACE, clean_env, pinnace, python_json

import pinnace as pinnace_api
from pinnace.settings import Settings

HEAVY = ["click", "sqlalchemy", "alembic", "fsspec", "yaml", "google.protobuf"]
LOADED = "import sys, json; print(json.dumps(sorted(sys.modules)))"


def _loaded_heavy(modules: list[str], heavy: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy)]


def test_import_pinnace_loads_no_heavy_module() -> None:
    modules = python_json(f"import pinnace, pinnace.dsl\n{LOADED}")
    assert "pinnace" in modules
    assert _loaded_heavy(modules, HEAVY) == []


def test_help_loads_no_store_or_proto_module() -> None:
    code = (
        "from pinnace.cli.main import cli\n"
        "try:\n    cli(['--help'], prog_name='pinnace')\nexcept SystemExit:\n    pass\n"
        "import sys, json; print(); print(json.dumps(sorted(sys.modules)))"
    )
    modules = python_json(code)
    assert "click" in modules  # proves the command really ran in that interpreter
    assert _loaded_heavy(modules, ["sqlalchemy", "fsspec", "alembic", "google.protobuf"]) == []


def test_run_loads_neither_the_kfp_sdk_nor_what_only_other_paths_need(tmp_path: Path) -> None:
    """`pinnace run` of a .py pipeline: kfp-pipeline-spec's protos yes, the kfp SDK (its
    client, kubernetes, google.auth, requests) and PyYAML or urllib.request no."""
    argv = ["--home", str(tmp_path / "home"), "run", "--no-cache", "--use-current-python"]
    argv += [str(FIXTURES / "small.py"), "-p", "n=1"]
    code = (
        "from pinnace.cli.main import cli\n"
        f"try:\n    cli({argv!r}, prog_name='pinnace')\nexcept SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "import sys, json; print(); print(json.dumps(sorted(sys.modules)))"
    )
    modules = python_json(code)
    assert "kfp.pipeline_spec.pipeline_spec_pb2" in modules  # proves the run compiled
    assert "kfp" not in modules
    unwanted = ["kfp.client", "kubernetes", "google.auth", "requests", "yaml", "urllib.request"]
    assert _loaded_heavy(modules, unwanted) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["compile", "--help"],
        ["runs", "show", "--help"],
        ["logs", "--help"],
    ],
)
def test_help(tmp_path: Path, args: list[str]) -> None:
    result = pinnace(tmp_path, *args)
    assert result.returncode == 0, result.describe()
    assert result.stdout.startswith("Usage: pinnace")
    assert result.stderr == ""


def test_help_lists_commands_and_run_options() -> None:
    done = subprocess.run(
        [str(PINNACE), "--help"], capture_output=True, text=True, env=clean_env(), check=True
    )
    for command in ("run", "compile", "runs", "logs"):
        assert f"  {command} " in done.stdout
    run_help = subprocess.run(
        [str(PINNACE), "run", "--help"], capture_output=True, text=True, env=clean_env(), check=True
    ).stdout
    for option in ("--param", "--pipeline", "--no-cache", "--json", "--parallelism"):
        assert option in run_help


def test_version(tmp_path: Path) -> None:
    result = pinnace(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pinnace, version {pinnace_api.__version__}"


def _small_pipeline() -> object:
    spec = importlib.util.spec_from_file_location("e2e_small_pipeline", FIXTURES / "small.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.small


@pytest.mark.parametrize("source", ["function", "path"])
def test_python_api_run(tmp_path: Path, source: str) -> None:
    pipeline = _small_pipeline() if source == "function" else FIXTURES / "small.py"
    settings = Settings.load(home=tmp_path / "home", env={})
    result = pinnace_api.run(pipeline, arguments={"n": 41}, settings=settings)
    assert isinstance(result, pinnace_api.RunResult)
    assert result.state == "SUCCEEDED" and result.succeeded and result.error is None
    assert [(t.name, t.state) for t in result.tasks] == [
        ("add-one", "SUCCEEDED"),
        ("show", "SUCCEEDED"),
    ]
    assert result.task("add-one").outputs == {"Output": 42}
    assert "value is 42" in Path(result.task("show").log_path or "").read_text()
    assert result.outputs == {}
    document = result.to_json()
    assert json.loads(json.dumps(document)) == {
        "run_id": result.run_id,
        "state": "SUCCEEDED",
        "outputs": {},
        "tasks": [
            {"name": "add-one", "state": "SUCCEEDED", "outputs": {"Output": 42}},
            {"name": "show", "state": "SUCCEEDED", "outputs": {}},
        ],
    }
    with pytest.raises(KeyError, match="add-one"):
        result.task("nope")


def test_python_api_bad_parameter_raises_parameter_error(tmp_path: Path) -> None:
    from pinnace.errors import ParameterError

    settings = Settings.load(home=tmp_path / "home", env={})
    with pytest.raises(ParameterError, match="'n'"):
        pinnace_api.run(FIXTURES / "small.py", arguments={"n": "abc"}, settings=settings)


def test_cli_run_json_and_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = pinnace(home, "run", FIXTURES / "small.py", "-p", "n=1", "--json")
    assert result.returncode == 0, result.describe()
    document = result.json()
    assert {t["name"]: t["outputs"] for t in document["tasks"]} == {
        "add-one": {"Output": 2},
        "show": {},
    }
    text = pinnace(home, "run", FIXTURES / "small.py", "-p", "n=1", "-p", "label=y")
    assert text.returncode == 0, text.describe()
    assert text.stdout.startswith("run ") and text.stdout.strip().endswith("SUCCEEDED")
