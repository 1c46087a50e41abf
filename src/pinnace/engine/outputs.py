"""Collecting what an execution wrote: output parameters, artifacts and their metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from .._files import read_regular
from ..errors import OutputRefusedError
from .inputs import ArtifactDict, TaskOutputs
from .plan import PlannedTask


class OutputError(Exception):
    """An execution finished but its outputs are missing or malformed (the task fails)."""


class ArtifactCommitter(Protocol):
    def uri_for(self, run_id: str, task_name: str, output_name: str) -> str: ...
    def commit(self, source: Path, uri: str, *, root: Path | None = None) -> None: ...


def collect_outputs(
    task: PlannedTask,
    executor_input: Mapping[str, Any],
    run_id: str,
    store: ArtifactCommitter,
    *,
    task_name: str | None = None,
) -> TaskOutputs:
    """Read the executor output and output files, commit artifacts to the store.

    `task_name` is the instance's path, which keeps loop iterations' artifacts apart.
    """
    output_file = Path(executor_input["outputs"]["outputFile"])
    # Everything the step wrote lies in its folder, and is read there as data only.
    folder = output_file.parent
    written = _read_executor_output(folder, output_file)
    definitions = task.component.get("outputDefinitions", {})
    parameters: dict[str, Any] = {}
    for name, spec in (executor_input["outputs"].get("parameters") or {}).items():
        if name in written.get("parameterValues", {}):
            parameters[name] = written["parameterValues"][name]
            continue
        kind = definitions.get("parameters", {}).get(name, {}).get("parameterType", "STRING")
        parameters[name] = _read_parameter_file(folder, name, Path(spec["outputFile"]), kind)
    artifacts: dict[str, list[ArtifactDict]] = {}
    for name, spec in (executor_input["outputs"].get("artifacts") or {}).items():
        declared = spec["artifacts"][0]
        reported = (written.get("artifacts", {}).get(name, {}).get("artifacts") or [{}])[0]
        # `Output.set_path(...)` (kfp's custom path): the component wrote the file there.
        local = Path(reported.get("custom_path") or reported.get("uri") or declared["uri"])
        uri = store.uri_for(run_id, task_name or task.name, name)
        metadata = {**declared.get("metadata", {}), **reported.get("metadata", {})}
        artifact = {
            "name": name,
            "uri": uri,
            "type": declared.get("type", {}),
            "metadata": metadata,
        }
        local = Path(os.path.abspath(local)) if local.is_absolute() else local
        if not local.is_absolute() or folder not in local.parents:
            raise OutputRefusedError(
                f"output {name!r}: the task reported the path {str(local)!r}, outside its "
                f"folder {str(folder)!r}",
                hint="write outputs under the paths the task was given (set_path too)",
            )
        if os.path.lexists(local):
            store.commit(local, uri, root=folder)
        else:
            # As Kubeflow's launcher: a component may leave an output unwritten; the URI is
            # still recorded (nothing is there) and downstream tasks decide what that means.
            artifact["written"] = False
        artifacts[name] = [artifact]
    return TaskOutputs(parameters, artifacts)


def _read_executor_output(folder: Path, path: Path) -> dict[str, Any]:
    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(read_regular(folder, path, "the executor output").decode("utf-8"))
    except ValueError as exc:
        raise OutputError(f"executor output {path} is not valid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def _read_parameter_file(folder: Path, name: str, path: Path, kind: str) -> Any:
    if not os.path.lexists(path):
        raise OutputError(f"output parameter {name!r} was not written (expected {path})")
    try:
        text = read_regular(folder, path, f"output parameter {name!r}").decode("utf-8")
    except UnicodeDecodeError:
        raise OutputError(f"output parameter {name!r} is not UTF-8 text") from None
    if kind == "STRING":
        return text
    try:
        value = json.loads(text)
    except ValueError:
        if kind == "BOOLEAN" and text.strip() in ("True", "False"):
            return text.strip() == "True"
        raise OutputError(
            f"output parameter {name!r} is not a valid {kind.lower()}: {text[:80]!r}"
        ) from None
    return value
