"""Running one called component or pipeline on Pinnace's engine, as kfp's local runner does."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..engine.events import EngineEvent
from ..errors import LocalRunError
from ..settings import Settings
from ._config import DockerRunner, LocalExecutionConfig

logger = logging.getLogger("pinnace.local")


class LocalSession:
    """What `local.init` set up; `run` is the DSL's hook for calls outside a pipeline."""

    def __init__(self, config: LocalExecutionConfig) -> None:
        self.config = config

    def run(self, component: Any, arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
        from ..api import resolve_spec
        from ..dsl import Pipeline

        spec = resolve_spec(component)
        name = spec["pipelineInfo"]["name"]
        given = [
            key
            for key in (spec["root"].get("inputDefinitions", {}).get("artifacts") or {})
            if arguments.get(key) is not None
        ]
        if given:
            raise ValueError(
                f"Input artifacts are not yet supported for local execution. Got: {sorted(given)}"
            )
        is_pipeline = isinstance(component, Pipeline)
        kind = "Pipeline" if is_pipeline else "Task"
        _ensure_handler()
        logger.info("Executing %s '%s'", kind.lower(), name)
        record, tasks = self._drive(spec, arguments, _log_event if is_pipeline else None)
        if record.state.value != "SUCCEEDED":
            message = f"{kind} '{name}' finished with status FAILURE"
            if is_pipeline:
                message += f". Inner task failed: {_failure_chain(tasks)}."
            if record.error:
                logger.error("%s: %s", name, record.error)
            if self.config.raise_on_error:
                raise LocalRunError(message, hint=record.error)
            logger.error(message)
            return {}, name
        logger.info("%s '%s' finished with status SUCCESS", kind, name)
        return _outputs(spec, record.outputs), name

    def _drive(
        self, spec: dict[str, Any], arguments: dict[str, Any], on_event: Any
    ) -> tuple[Any, list[Any]]:
        from ..backend import open_backend

        settings = dataclasses.replace(Settings.load(), artifact_root=self.config.pipeline_root)
        runner = self.config.runner
        use_current_python = not getattr(runner, "use_venv", True)
        if isinstance(runner, DockerRunner):
            use_current_python = False
        backend = open_backend(settings)
        try:
            executor = backend.executor(use_current_python=use_current_python)
            try:
                driver = backend.driver(executor, on_event or _ignore)
                created = driver.create_run(spec, arguments, cache=self.config.enable_caching)
                record = driver.drive(created.run_id)
            finally:
                executor.close()
            return record, backend.metadata.list_tasks(record.run_id)
        finally:
            backend.close()


def _ignore(event: EngineEvent) -> None:
    """A single task's progress is the task's own log lines."""


def _log_event(event: EngineEvent) -> None:
    if event.task_name is None:
        return
    if event.state in ("FAILED",):
        logger.error("Task '%s' finished with status FAILURE %s", event.task_name, event.message)
    elif event.state in ("SUCCEEDED", "CACHED"):
        logger.info("Task '%s' finished with status %s", event.task_name, event.state)


def _failure_chain(tasks: list[Any]) -> str:
    """kfp's `'inner' inside 'outer'`: the deepest failed task and its enclosing groups."""
    failed = [t.task_name for t in tasks if t.state.value == "FAILED"]
    if not failed:
        return "none"
    deepest = max(failed, key=lambda path: path.count("/"))
    parts = deepest.split("/")
    return " inside ".join(f"'{p}'" for p in reversed(parts))


def _outputs(spec: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """Parameters as values, artifacts as `dsl.Artifact` objects (a list for lists)."""
    declared = spec["root"].get("outputDefinitions", {}).get("artifacts") or {}
    result: dict[str, Any] = {}
    for name, value in outputs.items():
        if name not in declared:
            result[name] = value
            continue
        artifacts = [_artifact(a) for a in value or []]
        result[name] = artifacts if declared[name].get("isArtifactList") else artifacts[0]
    return result


def _artifact(data: dict[str, Any]) -> Any:
    from ..runtime import types

    title = (data.get("type") or {}).get("schemaTitle", "system.Artifact")
    classes = {cls.schema_title: cls for cls in types.ARTIFACT_CLASSES}
    cls = classes.get(title, types.Artifact)
    artifact = cls(name=data.get("name", ""), uri=data["uri"], metadata=data.get("metadata", {}))
    return artifact


def _ensure_handler() -> None:
    """kfp's local runner prints its progress; so does this one, unless logging is set up."""
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
