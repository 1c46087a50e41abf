"""Helpers for the runtime tests: compile kfp components, run a task three ways, compare."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "src" / "pinnace" / "runtime"


@dataclass
class Program:
    """A compiled component: its program text, function name and component spec."""

    text: str
    function: str
    spec: dict


@dataclass
class TaskResult:
    returncode: int
    stdout: str
    stderr: str
    root: Path

    @property
    def executor_output(self) -> dict:
        text = (self.root / "executor_output.json").read_text()
        return json.loads(text.replace(str(self.root), "<ROOT>"))

    def output_files(self) -> dict[str, str]:
        """Every file the task wrote under its root except executor_output.json."""
        files = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and path.name != "executor_output.json":
                files[str(path.relative_to(self.root))] = path.read_text()
        return files


def compile_program(component: Any) -> Program:
    """The program text and function name kfp puts in the component's container command."""
    from google.protobuf import json_format

    spec = json_format.MessageToDict(component.pipeline_spec)
    (executor,) = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    args = container["args"]
    function = args[args.index("--function_to_execute") + 1]
    (component_spec,) = spec["components"].values()
    return Program(text=container["command"][-1], function=function, spec=component_spec)


def build_executor_input(
    program: Program,
    root: Path,
    parameters: dict | None = None,
    artifacts: dict[str, list[dict]] | None = None,
) -> dict:
    """An ExecutorInput as the KFP launcher writes it, with outputs placed under `root`."""
    outputs = program.spec.get("outputDefinitions", {})
    out_params = {
        name: {"outputFile": str(root / "parameters" / name)}
        for name in outputs.get("parameters", {})
    }
    out_artifacts = {
        name: {
            "artifacts": [
                {
                    "name": name,
                    "type": definition["artifactType"],
                    "uri": str(root / "artifacts" / name),
                    "metadata": {},
                }
            ]
        }
        for name, definition in outputs.get("artifacts", {}).items()
    }
    return {
        "inputs": {
            "parameterValues": parameters or {},
            "artifacts": {name: {"artifacts": arts} for name, arts in (artifacts or {}).items()},
        },
        "outputs": {
            "parameters": out_params,
            "artifacts": out_artifacts,
            "outputFile": str(root / "executor_output.json"),
        },
    }


def make_bare_venv(path: Path) -> Path:
    """A fresh virtual environment without pip or kfp; returns its python."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    return path / "bin" / "python"


def copy_runtime(target_dir: Path, package_name: str = "pinnace_runtime") -> Path:
    """Copy the runtime folder as a top-level package, as the local executor does."""
    destination = target_dir / package_name
    shutil.copytree(RUNTIME_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return target_dir


class Runner:
    """Runs one compiled component as a task, in one of three ways.

    - "kfp": kfp's own `python -m kfp.dsl.executor_main` in the dev venv (the oracle);
    - "standin": our runtime copied as `pinnace_runtime`, in a bare venv without kfp;
    - "realkfp": `python -m pinnace.runtime` in the dev venv, where kfp is importable.
    """

    def __init__(self, tmp: Path, bare_python: Path, runtime_path: Path) -> None:
        self.tmp = tmp
        self.bare_python = bare_python
        self.runtime_path = runtime_path

    def command(self, mode: str) -> tuple[list[str], dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "_KFP_RUNTIME")}
        if mode == "kfp":
            env["_KFP_RUNTIME"] = "true"
            return [sys.executable, "-m", "kfp.dsl.executor_main"], env
        if mode == "standin":
            env["PYTHONPATH"] = str(self.runtime_path)
            return [str(self.bare_python), "-m", "pinnace_runtime"], env
        if mode == "realkfp":
            return [sys.executable, "-m", "pinnace.runtime"], env
        raise ValueError(mode)

    def run(
        self,
        mode: str,
        program: Program,
        parameters: dict | None = None,
        artifacts: dict[str, list[dict]] | None = None,
        module_text: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> TaskResult:
        work = Path(tempfile.mkdtemp(prefix=f"{mode}-{program.function}-", dir=self.tmp))
        root = work / "root"
        root.mkdir(parents=True)
        module_path = work / "ephemeral_component.py"
        module_path.write_text(module_text if module_text is not None else program.text)
        executor_input = build_executor_input(program, root, parameters, artifacts)
        command, env = self.command(mode)
        env.update(extra_env or {})
        command += [
            "--executor_input",
            json.dumps(executor_input),
            "--function_to_execute",
            program.function,
            "--component_module_path",
            str(module_path),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=work, timeout=60
        )
        return TaskResult(done.returncode, done.stdout, done.stderr, root)
