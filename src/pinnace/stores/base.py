"""The store interfaces the engine talks to, and the records they hold.

Two stores: the metadata store (runs, tasks, executions, artifacts, cache entries,
pipelines) and the artifact store (the bytes of artifacts, addressed by URI).
Implementations: `SqlMetadataStore` / `InMemoryMetadataStore`, `FsspecArtifactStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ..model.state import RunState, TaskState


@dataclass
class PipelineRecord:
    pipeline_id: str
    name: str
    description: str
    spec: dict[str, Any]
    created_at: datetime
    display_name: str = ""
    #: the owning user's namespace; None = shared (visible to everyone)
    namespace: str | None = None


@dataclass
class RunRecord:
    run_id: str
    pipeline_name: str
    display_name: str
    #: the pipeline spec (IR), written once when the run is created; {} in a run read
    #: without it (see `MetadataStore.get_run`) and in the run a write returns
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
    description: str = ""
    experiment_id: str | None = None
    #: the owning user's namespace; None for runs started without accounts (the CLI)
    namespace: str | None = None
    #: "AVAILABLE" or "ARCHIVED" (KFP's StorageState)
    storage_state: str = "AVAILABLE"
    pipeline_version_id: str | None = None
    recurring_run_id: str | None = None
    #: the schedule slot a recurring run started this run for; unique per recurring run
    scheduled_at: datetime | None = None
    #: who holds the run's lease (see pinnace.engine.lease): only the holder of a live
    #: lease drives, settles or cancels the run
    lease_owner: str | None = None
    #: "cli" or "server": who may adopt the run once the lease expires
    lease_kind: str | None = None
    lease_expires_at: datetime | None = None


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
    #: the execution's process as its executor identifies it (pid, start time, group), so
    #: that whoever resumes the run after a crash can kill a survivor first
    process: dict[str, Any] | None = None


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


@dataclass
class PipelineVersionRecord:
    pipeline_version_id: str
    pipeline_id: str
    name: str
    spec: dict[str, Any]
    created_at: datetime
    display_name: str = ""
    description: str = ""
    code_source_url: str = ""


@dataclass
class ExperimentRecord:
    experiment_id: str
    name: str
    created_at: datetime
    description: str = ""
    namespace: str | None = None
    storage_state: str = "AVAILABLE"
    last_run_created_at: datetime | None = None


@dataclass
class UserRecord:
    name: str
    #: "scrypt$n$r$p$salt_hex$hash_hex"; never the password itself
    password_hash: str
    created_at: datetime
    is_admin: bool = False
    #: the namespace the user's objects live in (defaults to the user name)
    namespace: str = ""


@dataclass
class ApiTokenRecord:
    token_id: str
    #: sha256 hex of the token; the token itself is shown once and never stored
    token_hash: str
    user_name: str
    created_at: datetime
    description: str = ""
    last_used_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass
class RecurringRunRecord:
    recurring_run_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    experiment_id: str | None = None
    namespace: str | None = None
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    #: the spec to run when no pipeline version is referenced
    spec: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    #: a five/six-field cron expression, or None with `interval_seconds` set
    cron: str | None = None
    interval_seconds: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    max_concurrency: int = 1
    no_catchup: bool = False
    enabled: bool = True
    #: the last time slot a run was started for (the scheduler's bookmark)
    last_scheduled_at: datetime | None = None


@dataclass(frozen=True)
class Predicate:
    """One condition of a list query: `field op value`; fields are checked against an allowlist.

    op is one of "eq", "ne", "gt", "ge", "lt", "le", "in", "substring".
    """

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class ListQuery:
    """What a list call wants: AND-ed predicates, one sort key, a page window.

    `namespaces` (when not None) restricts rows to those namespaces (None in the set
    means rows without a namespace).
    """

    predicates: tuple[Predicate, ...] = ()
    sort_by: str = "created_at"
    descending: bool = True
    limit: int = 20
    offset: int = 0
    namespaces: frozenset[str | None] | None = None


@dataclass(frozen=True)
class AcrossRuns:
    """A list of artifacts or executions over many runs, newest first (insertion order).

    `namespaces` as in ListQuery (the runs' namespaces); `schema_type` (artifacts) matches the
    schema title or its last dotted part, case-insensitively (`metrics` ~ `system.Metrics`);
    `state` (executions) is a TaskState value.
    """

    namespaces: frozenset[str | None] | None = None
    run_id: str | None = None
    task_name: str | None = None
    schema_type: str | None = None
    state: str | None = None
    limit: int = 20
    offset: int = 0


def type_matches(schema_title: str, wanted: str) -> bool:
    """`AcrossRuns.schema_type`'s rule, for stores that filter in Python."""
    wanted, title = wanted.strip().lower(), schema_title.lower()
    return title == wanted or title.rpartition(".")[2] == wanted


@dataclass
class Page:
    """One page of records and the number of records matching the query in all."""

    records: list[Any]
    total: int


class MetadataStore(Protocol):
    """Durable record of everything that happened; every engine transition goes here first."""

    def put_pipeline(self, record: PipelineRecord) -> PipelineRecord: ...
    def get_pipeline_by_name(self, name: str) -> PipelineRecord | None: ...

    def create_run(self, record: RunRecord) -> None: ...
    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        """Apply `changes` (state moves checked); the run as it is now, without its spec
        (`spec` is {} unless the change set it), as every write of a run returns it."""
        ...

    def get_run(self, run_id: str, *, spec: bool = True) -> RunRecord:
        """The run; NotFoundError when missing. `spec=False` leaves its pipeline spec out
        (`spec` is {}): for callers that need its state, times, lease or outputs, since a
        1,000-task run's spec takes ~0.05-0.1 s to decode and the rest well under 1 ms."""
        ...

    def list_runs(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        state: RunState | None = None,
        spec: bool = True,
    ) -> list[RunRecord]:
        """Runs newest first; `spec=False` as in `get_run`."""
        ...

    def upsert_task(self, record: TaskRecord) -> None: ...
    def add_tasks(self, records: Sequence[TaskRecord]) -> None:
        """Store new tasks (of existing runs) at once; StoreError if one exists already."""
        ...

    def list_tasks(self, run_id: str) -> list[TaskRecord]: ...
    def get_task(self, run_id: str, task_name: str) -> TaskRecord | None: ...

    def add_execution(self, record: ExecutionRecord) -> None: ...
    def update_execution(self, execution_id: str, **changes: Any) -> None: ...
    def list_executions(self, run_id: str) -> list[ExecutionRecord]: ...

    def add_artifact(self, record: ArtifactRecord) -> None: ...
    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]: ...
    def get_artifact(self, artifact_id: str) -> ArtifactRecord: ...  # raises NotFoundError

    # Across runs: Page.records are (record, its run's display name) pairs, newest first.
    def query_artifacts(self, query: AcrossRuns) -> Page: ...
    def query_executions(self, query: AcrossRuns) -> Page: ...

    def get_cache(self, cache_key: str) -> CacheEntry | None: ...
    def put_cache(self, entry: CacheEntry) -> None: ...

    # Generic access to the catalog records (pipelines, versions, experiments, runs, users,
    # tokens, recurring runs): `kind` is the record class, `key` its primary key.
    def insert_record(self, record: Any) -> None: ...
    def get_record(self, kind: type[Any], key: str) -> Any: ...  # raises NotFoundError
    # Positional-only: a change may be a field named like a parameter. A run comes back
    # without its spec, as from `update_run`.
    def update_record(self, kind: type[Any], key: str, /, **changes: Any) -> Any: ...
    def update_record_if(
        self, kind: type[Any], key: str, expected: dict[str, Any], /, **changes: Any
    ) -> Any | None:
        """Compare-and-set in one transaction: apply `changes` only when every field in
        `expected` still holds that value; the updated record, or None when one differs."""

    def delete_record(self, kind: type[Any], key: str) -> None: ...  # raises NotFoundError
    def query_records(self, kind: type[Any], query: ListQuery) -> Page: ...

    def batch(self) -> AbstractContextManager[None]:
        """Commit the calling thread's task, execution, artifact and cache writes made in
        the block together, when it ends (the engine: one commit per scheduling round).
        Reads and other writes inside the block see the writes made before them; writes
        made before an exception that ends the block are kept."""
        ...

    def close(self) -> None: ...


class ArtifactStore(Protocol):
    """The bytes of artifacts, addressed by URI; writes are atomic."""

    root: str

    def uri_for(self, run_id: str, task_name: str, output_name: str) -> str: ...
    def commit(self, source: Path, uri: str, *, root: Path | None = None) -> None:
        """Copy a local file or folder to `uri` atomically (all or nothing)."""

    def local_path(self, uri: str) -> Path | None:
        """The local path of `uri` when the store is on this machine, else None."""

    def fetch(self, uri: str, dest: Path) -> Path:
        """Download `uri` (file or folder) to `dest`; returns `dest`."""

    def exists(self, uri: str) -> bool: ...
    def open(self, uri: str) -> Any:
        """A binary file object for reading `uri`."""
