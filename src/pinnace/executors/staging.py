"""Staging a launch where it runs: inputs fetched, placeholders filled, outputs committed.

Every executor does this on the machine that runs the execution (the local executor on this
one, the Ray executor on the node Ray picked), with the artifact store opened there:

    staged = stage(launch, store, workdir, log_path=..., cache=...)
    ...run staged.command + staged.args in staged.workdir...
    outputs = collect(staged, launch, store)

Artifacts of a store on this machine are used in place (no copy: the local fast path);
others are fetched once per URI into `cache`. Output files are written under `workdir` and
committed to their URIs (atomically, by the store) after the process succeeded.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._files import read_regular
from ..errors import ExecutorError, OutputRefusedError, PinnaceError
from ..stores.base import ArtifactStore
from ..stores.external import is_external, local_copy
from ._resources import no_space, no_space_reason
from .base import ExecutionOutcome, ExecutionOutputs, StagedLaunch, TaskLaunch
from .placeholders import resolve_placeholders


def run_attempt(
    launch: TaskLaunch,
    store: ArtifactStore,
    work_dir: Path,
    log_path: Path,
    execute: Callable[[StagedLaunch], ExecutionOutcome],
    discard: Callable[[Path], None] | None = None,
) -> ExecutionOutcome:
    """Stage `launch` under `work_dir`, `execute` it, collect its outputs: one attempt.

    A failure to stage or to collect fails the attempt (the engine's retry policy decides);
    the attempt's folder is removed when it succeeded and kept for a look when it failed,
    less its partial outputs. On a full disk the folder goes whole (it is what keeps the
    disk full) and the reason names the output being written. `discard` removes a
    succeeded attempt's folder (default: at once; the local executor moves it aside and
    removes it in the background, see `discard_later`).
    """
    workdir = work_dir / launch.run_id / launch.task_name / str(launch.attempt)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        staged = stage(launch, store, workdir, log_path=log_path, cache=work_dir)
    except PinnaceError as exc:
        _note(log_path, f"pinnace: cannot stage the inputs: {exc}")
        return ExecutionOutcome(exit_code=-1, error=f"cannot stage the inputs: {exc.message}")
    outcome = execute(staged)
    if not outcome.ok:
        return _failed(outcome, workdir, launch.task_name)
    try:
        outputs = collect(staged, launch, store)
    except PinnaceError as exc:
        _note(log_path, f"pinnace: cannot collect the outputs: {exc}")
        failed = replace(outcome, error=f"cannot collect the outputs: {exc.message}")
        return _failed(failed, workdir, launch.task_name)
    (discard or _remove)(workdir)
    return replace(outcome, outputs=outputs)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def discard_later(folder: Path, defer: Callable[[Callable[[], object]], None]) -> None:
    """Remove `folder` off the caller's path: renamed aside at once (one operation; a later
    attempt staged at the same path never meets it), deleted by `defer`. Its parent keeps
    the hidden name until then; a process that dies first leaves it to `pinnace gc`."""
    trash = folder.with_name(f".{folder.name}.removed-{uuid.uuid4().hex[:8]}")
    try:
        folder.rename(trash)
    except OSError:
        _remove(folder)
        return
    defer(lambda: _remove(trash))


def _failed(outcome: ExecutionOutcome, workdir: Path, task: str) -> ExecutionOutcome:
    if no_space(outcome.error):
        outcome = replace(outcome, error=no_space_reason(workdir, task))
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        shutil.rmtree(workdir / "outputs", ignore_errors=True)
    return outcome


def _note(log_path: Path, line: str) -> None:
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def stage(
    launch: TaskLaunch, store: ArtifactStore, workdir: Path, *, log_path: Path, cache: Path
) -> StagedLaunch:
    """A fresh `workdir` with the launch's outputs placed under it and its inputs local."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ei = copy.deepcopy(launch.executor_input)
    for spec in (ei.get("inputs", {}).get("artifacts") or {}).values():
        for artifact in spec.get("artifacts", []):
            artifact["uri"] = str(local_input(artifact["uri"], store, cache))
    outputs = ei.setdefault("outputs", {})
    outputs["outputFile"] = str(workdir / "executor_output.json")
    for name, spec in (outputs.get("parameters") or {}).items():
        path = workdir / "outputs" / "parameters" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        spec["outputFile"] = str(path)
    for name, spec in (outputs.get("artifacts") or {}).items():
        path = workdir / "outputs" / "artifacts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for artifact in spec.get("artifacts", []):
            artifact["uri"] = str(path)
    return StagedLaunch(
        run_id=launch.run_id,
        task_name=launch.task_name,
        execution_id=launch.execution_id,
        image=launch.image,
        command=tuple(resolve_placeholders(list(launch.command), ei)),
        args=tuple(resolve_placeholders(list(launch.args), ei)),
        executor_input=ei,
        output_metadata_path=workdir / "executor_output.json",
        workdir=workdir,
        log_path=log_path,
        env=dict(launch.env),
        resources=launch.resources,
        mounts=launch.mounts,
        namespace=launch.namespace,
    )


def local_input(uri: str, store: ArtifactStore, cache: Path) -> Path:
    """A local path holding the input artifact `uri` (in place when it is on this machine)."""
    if is_external(uri, store.root):
        return local_copy(uri, cache / "imported")
    local = store.local_path(uri)
    if local is not None:
        return local
    dest = cache / "inputs" / uuid.uuid5(uuid.NAMESPACE_URL, uri).hex
    if dest.exists():
        return dest
    # Fetched aside, then renamed: a concurrent or killed fetch never leaves half a copy.
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}")
    try:
        store.fetch(uri, tmp)
        try:
            tmp.rename(dest)
        except OSError:
            if not dest.exists():
                raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    return dest


def collect(staged: StagedLaunch, launch: TaskLaunch, store: ArtifactStore) -> ExecutionOutputs:
    """Read what the execution wrote and commit its output artifacts to their URIs.

    Everything is read under the execution's folder as data (pinnace._files): a link or a
    path the step reported outside its folder fails the attempt (OutputRefusedError).
    """
    folder = staged.workdir
    written = _executor_output(folder, staged.output_metadata_path, launch.task_name)
    parameters: dict[str, str | None] = {}
    for name, spec in (staged.executor_input["outputs"].get("parameters") or {}).items():
        parameters[name] = _parameter_text(folder, name, Path(spec["outputFile"]))
    artifacts: dict[str, dict[str, Any]] = {}
    targets = launch.executor_input.get("outputs", {}).get("artifacts") or {}
    for name, spec in (staged.executor_input["outputs"].get("artifacts") or {}).items():
        declared = spec["artifacts"][0]
        reported = (written.get("artifacts", {}).get(name, {}).get("artifacts") or [{}])[0]
        # `Output.set_path(...)` (kfp's custom path): the component wrote the file there.
        local = Path(reported.get("custom_path") or reported.get("uri") or declared["uri"])
        local = Path(os.path.abspath(local)) if local.is_absolute() else local
        if not local.is_absolute() or folder not in local.parents:
            raise OutputRefusedError(
                f"output {name!r}: the task reported the path {str(local)!r}, outside its "
                f"folder {str(folder)!r}",
                hint="write outputs under the paths the task was given (set_path too)",
            )
        present = os.path.lexists(local)
        if present:
            store.commit(local, targets[name]["artifacts"][0]["uri"], root=folder)
        artifacts[name] = {"written": present, "metadata": reported.get("metadata", {})}
    return ExecutionOutputs(executor_output=written, parameters=parameters, artifacts=artifacts)


def _executor_output(folder: Path, path: Path, task: str) -> dict[str, Any]:
    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(read_regular(folder, path, "the executor output").decode("utf-8"))
    except ValueError as exc:
        raise ExecutorError(f"executor output {path} is not valid JSON: {exc}", task=task) from None
    except RecursionError:  # written by the step: "[[[[..." a million deep
        raise ExecutorError(f"executor output {path} is nested too deeply", task=task) from None
    return data if isinstance(data, dict) else {}


def _parameter_text(folder: Path, name: str, path: Path) -> str | None:
    if not os.path.lexists(path):
        return None
    try:
        return read_regular(folder, path, f"output parameter {name!r}").decode("utf-8")
    except UnicodeDecodeError:
        raise ExecutorError(f"output parameter {name!r} is not UTF-8 text") from None
