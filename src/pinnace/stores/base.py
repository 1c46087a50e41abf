"""The store interfaces the engine talks to, and the records they hold.

Two stores: the metadata store (runs, tasks, executions, artifacts, cache entries,
pipelines) and the artifact store (the bytes of artifacts, addressed by URI).
Implementations: `SqlMetadataStore` / `InMemoryMetadataStore`, `FsspecArtifactStore`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ..engine.state import RunState, TaskState


@dataclass
class PipelineRecord:
    pipeline_id: str
    name: str
    description: str
    spec: dict[str, Any]
    created_at: datetime


@dataclass
class RunRecord:
    run_id: str
    pipeline_name: str
    display_name: str
    spec: dict[str, Any]
    parameters: dict[str, Any]
    state: RunState
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    #: who drives the run, e.g. "pid:1234@host"; used to settle runs whose driver died
    owner: str | None = None
    #: output parameters and artifacts of the pipeline itself
    outputs: dict[str, Any] = field(default_factory=dict)
    pipeline_id: str | None = None
    cache_enabled: bool = True


@dataclass
class TaskRecord:
    run_id: str
    #: unique inside a run: the task's path in the DAG, e.g. "train-model"
    task_name: str
    display_name: str
    state: TaskState
    component: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: resolved input parameter values and input artifact URIs
    inputs: dict[str, Any] = field(default_factory=dict)
    #: {"parameters": {...}, "artifacts": {name: [{"uri":..., "type":..., "metadata":...}]}}
    outputs: dict[str, Any] = field(default_factory=dict)
    cache_key: str | None = None
    #: set when the outputs were reused: "<run_id>/<task_name>" of the original
    cached_from: str | None = None
    error: str | None = None
    log_path: str | None = None
    attempts: int = 0


@dataclass
class ExecutionRecord:
    execution_id: str
    run_id: str
    task_name: str
    attempt: int
    state: TaskState
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    log_path: str | None = None
    #: environment used: interpreter path and requirement list
    environment: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArtifactRecord:
    artifact_id: str
    run_id: str
    task_name: str
    output_name: str
    uri: str
    schema_title: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass
class CacheEntry:
    cache_key: str
    run_id: str
    task_name: str
    #: same shape as TaskRecord.outputs
    outputs: dict[str, Any]
    created_at: datetime


class MetadataStore(Protocol):
    """Durable record of everything that happened; every engine transition goes here first."""

    def put_pipeline(self, record: PipelineRecord) -> PipelineRecord: ...
    def get_pipeline_by_name(self, name: str) -> PipelineRecord | None: ...

    def create_run(self, record: RunRecord) -> None: ...
    def update_run(self, run_id: str, **changes: Any) -> RunRecord: ...
    def get_run(self, run_id: str) -> RunRecord: ...  # raises NotFoundError
    def list_runs(
        self, *, limit: int = 50, offset: int = 0, state: RunState | None = None
    ) -> list[RunRecord]: ...

    def upsert_task(self, record: TaskRecord) -> None: ...
    def list_tasks(self, run_id: str) -> list[TaskRecord]: ...

    def add_execution(self, record: ExecutionRecord) -> None: ...
    def update_execution(self, execution_id: str, **changes: Any) -> None: ...
    def list_executions(self, run_id: str) -> list[ExecutionRecord]: ...

    def add_artifact(self, record: ArtifactRecord) -> None: ...
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]: ...

    def get_cache(self, cache_key: str) -> CacheEntry | None: ...
    def put_cache(self, entry: CacheEntry) -> None: ...

    def close(self) -> None: ...


class ArtifactStore(Protocol):
    """The bytes of artifacts, addressed by URI; writes are atomic."""

    root: str

    def uri_for(self, run_id: str, task_name: str, output_name: str) -> str: ...
    def commit(self, source: Path, uri: str) -> None:
        """Copy a local file or folder to `uri` atomically (all or nothing)."""

    def local_path(self, uri: str) -> Path | None:
        """The local path of `uri` when the store is on this machine, else None."""

    def fetch(self, uri: str, dest: Path) -> Path:
        """Download `uri` (file or folder) to `dest`; returns `dest`."""

    def exists(self, uri: str) -> bool: ...
    def open(self, uri: str) -> Any:
        """A binary file object for reading `uri`."""
