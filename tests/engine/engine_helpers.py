"""Shared helpers for the engine tests: compile the kfp fixtures, build a driver in memory."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"


def fixture_module(name: str) -> ModuleType:
    """Import tests/fixtures/engine/<name>.py by path (fixture folders are not packages)."""
    spec = importlib.util.spec_from_file_location(f"engine_fixture_{name}", FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kfp_spec(
    pipeline_name: str, tmp_path: Path, module_name: str = "kfp_control_flow"
) -> dict[str, Any]:
    """Compile a pipeline of a fixture module with the real kfp (the test oracle)."""
    from kfp import compiler

    module = fixture_module(module_name)
    path = tmp_path / f"{pipeline_name}.yaml"
    compiler.Compiler().compile(getattr(module, pipeline_name), str(path))
    return yaml.safe_load(path.read_text())


def memory_driver(tmp_path: Path, *, parallelism: int = 2, on_event: Any = None) -> Any:
    """A RunDriver on the in-memory metadata store, a folder artifact store and real subprocesses.

    The caller closes `driver.executor`.
    """
    from pinnace.engine.driver import RunDriver
    from pinnace.engine.events import ignore_events
    from pinnace.envs.cache import EnvironmentCache
    from pinnace.executors.local import LocalExecutor
    from pinnace.executors.runtime_copy import materialize_runtime
    from pinnace.settings import Settings
    from pinnace.stores import open_artifact_store, open_metadata_store

    artifacts = open_artifact_store(str(tmp_path / "artifacts"))
    executor = LocalExecutor(
        env_cache=EnvironmentCache(tmp_path / "envs"),
        runtime_path=materialize_runtime(tmp_path),
        parallelism=parallelism,
        use_current_python=True,
        gpus=Settings.load(home=tmp_path).gpus,  # PINNACE_GPUS, as the backend passes it
        artifacts=artifacts,
        work_dir=tmp_path / "work",
    )
    return RunDriver(
        metadata=open_metadata_store("memory://"),
        artifacts=artifacts,
        executor=executor,
        work_dir=tmp_path / "work",
        logs_dir=tmp_path / "logs",
        on_event=on_event or ignore_events,
    )


def run_kfp(
    pipeline_name: str,
    tmp_path: Path,
    arguments: dict[str, Any] | None = None,
    *,
    parallelism: int = 4,
    spec: dict[str, Any] | None = None,
    **create: Any,
) -> Any:
    """Compile a kfp_flow.py pipeline with kfp and drive it; returns (run, tasks by path)."""
    spec = spec or kfp_spec(pipeline_name, tmp_path, "kfp_flow")
    driver = memory_driver(tmp_path, parallelism=parallelism)
    try:
        record = driver.create_run(spec, arguments, **create)
        run = driver.drive(record.run_id)
        tasks = {t.task_name: t for t in driver.metadata.list_tasks(record.run_id)}
    finally:
        driver.executor.close()
    return run, tasks
