"""Reading an artifact a run's task produced, by name: never a path from the request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...errors import NotFoundError, StoreError, UserInputError
from ..context import ServerContext
from ..errors import PayloadTooLargeError
from .accounts import Principal
from .runs import visible_run

MAX_READ_BYTES = 32 * 1024 * 1024


def read_artifact(
    ctx: ServerContext, principal: Principal, run_id: str, node_id: str, artifact_name: str
) -> bytes:
    """The bytes of output `artifact_name` of task `node_id` in run `run_id`.

    The artifact is looked up in the metadata store; its URI is the one the engine
    recorded, and the artifact store refuses URIs outside its root (symlinks included).
    """
    visible_run(ctx, principal, run_id)  # 404 for runs the caller does not see
    for artifact in ctx.backend.metadata.list_artifacts(run_id):
        if artifact.task_name == node_id and artifact.output_name == artifact_name:
            return _read(ctx, artifact.uri)
    raise NotFoundError(
        f"run {run_id!r} has no artifact {artifact_name!r} of task {node_id!r}",
        hint="see run_details.task_details for the run's tasks",
    )


def read_artifact_tarball(
    ctx: ServerContext, principal: Principal, run_id: str, node_id: str, artifact_name: str
) -> bytes:
    """The artifact as kfp 1.x's API gives it: a gzipped tarball holding the one file (Argo
    archived every output that way; v1 readers untar it)."""
    import io
    import tarfile

    data = read_artifact(ctx, principal, run_id, node_id, artifact_name)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name=artifact_name)
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _read(ctx: ServerContext, uri: str) -> bytes:
    store = ctx.backend.artifacts
    local = store.local_path(uri)
    if local is not None and local.is_dir():
        raise UserInputError("this artifact is a folder; download it with the CLI")
    try:
        with store.open(uri) as handle:
            data = handle.read(MAX_READ_BYTES + 1)
    except IsADirectoryError:
        raise UserInputError("this artifact is a folder; download it with the CLI") from None
    except OSError as exc:
        raise StoreError(f"cannot read the artifact: {exc.strerror or exc}") from None
    if len(data) > MAX_READ_BYTES:
        raise PayloadTooLargeError(f"the artifact is over {MAX_READ_BYTES} bytes")
    return data


#: kfp 1.x's metrics output (`OutputPath('Metrics')`), under its function and Argo names
_V1_METRICS = frozenset({"mlpipeline_metrics", "mlpipeline-metrics"})
_MAX_METRICS_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RunMetric:
    """One number a task reported: a kfp 2 `Metrics` value or a kfp 1 `mlpipeline-metrics`
    entry (format RAW or PERCENTAGE)."""

    task: str
    name: str
    value: float
    format: str = "RAW"


def run_metrics(ctx: ServerContext, run_id: str) -> list[RunMetric]:
    """The numeric metrics a run's tasks reported (for v1's `run.metrics`); unreadable or
    malformed metrics files are left out."""
    found: list[RunMetric] = []
    for artifact in ctx.backend.metadata.list_artifacts(run_id):
        if artifact.schema_title == "system.Metrics":
            for name, value in (artifact.metadata or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    found.append(RunMetric(artifact.task_name, str(name), float(value)))
        elif artifact.output_name in _V1_METRICS:
            found.extend(_v1_metrics(ctx, artifact.task_name, artifact.uri))
    return found


def _number(entry: dict[str, Any]) -> float:
    value: Any = entry["numberValue"] if "numberValue" in entry else entry["number_value"]
    return float(value)


def _v1_metrics(ctx: ServerContext, task: str, uri: str) -> list[RunMetric]:
    try:
        with ctx.backend.artifacts.open(uri) as handle:
            document = json.loads(handle.read(_MAX_METRICS_BYTES))
        entries = document.get("metrics") or []
        return [
            RunMetric(
                task,
                str(entry["name"]),
                _number(entry),
                "PERCENTAGE" if entry.get("format") == "PERCENTAGE" else "RAW",
            )
            for entry in entries
            if isinstance(entry, dict) and "name" in entry
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []
