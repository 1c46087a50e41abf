"""The in-memory metadata store: the SQL store's twin for fast tests and throwaway runs.

It keeps the same rules as `SqlMetadataStore` (missing rows, state moves, JSON values,
ordering) and hands out copies, so callers can never change what it holds by accident.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import fields, replace
from typing import Any, TypeVar

from ..errors import StoreError
from ..model.state import RunState
from ._catalog import KINDS, check_query, kind_of, matches, sort_key
from ._common import (
    EXECUTION_FIELDS,
    RUN_FIELDS,
    already_exists,
    apply_changes,
    artifact_not_found,
    check_changes,
    check_state_move,
    coerce_state,
    execution_not_found,
    normalized,
    pipeline_not_found,
    run_not_found,
)
from .base import (
    AcrossRuns,
    ArtifactRecord,
    CacheEntry,
    ExecutionRecord,
    ListQuery,
    Page,
    PipelineRecord,
    RunRecord,
    TaskRecord,
    type_matches,
)

R = TypeVar("R")


class InMemoryMetadataStore:
    """A `MetadataStore` held in dictionaries; thread-safe, gone when the process ends.

    Example:
        >>> store = InMemoryMetadataStore()
        >>> store.list_runs()
        []
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pipelines: dict[str, PipelineRecord] = {}
        self._runs: dict[str, RunRecord] = {}
        # dicts keep insertion order, which is the order the SQL store lists rows in
        self._tasks: dict[str, dict[str, TaskRecord]] = {}
        self._executions: dict[str, ExecutionRecord] = {}
        self._artifacts: dict[str, ArtifactRecord] = {}
        self._cache: dict[str, CacheEntry] = {}
        # catalog records by kind; pipelines and runs share the dicts above
        self._catalog: dict[type, dict[str, Any]] = {k: {} for k in KINDS}
        self._catalog[PipelineRecord] = self._pipelines
        self._catalog[RunRecord] = self._runs

    # pipelines

    def put_pipeline(self, record: PipelineRecord) -> PipelineRecord:
        """Store `record`, or update the spec and description of the pipeline of that name."""
        new = normalized(record)
        with self._lock:
            for stored in self._pipelines.values():
                if stored.name == new.name:
                    stored.spec, stored.description = new.spec, new.description
                    return _copy(stored)
            if new.pipeline_id in self._pipelines:
                raise already_exists("pipeline", new.pipeline_id)
            self._pipelines[new.pipeline_id] = new
            return _copy(new)

    def get_pipeline_by_name(self, name: str) -> PipelineRecord | None:
        with self._lock:
            for stored in self._pipelines.values():
                if stored.name == name:
                    return _copy(stored)
        return None

    # runs

    def create_run(self, record: RunRecord) -> None:
        new = normalized(record)
        with self._lock:
            if new.run_id in self._runs:
                raise already_exists("run", new.run_id)
            if new.pipeline_id is not None and new.pipeline_id not in self._pipelines:
                raise pipeline_not_found(new.pipeline_id)
            self._runs[new.run_id] = new
            self._tasks[new.run_id] = {}

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        check_changes(RunRecord, RUN_FIELDS, "run_id", changes)
        with self._lock:
            updated = apply_changes(self._run(run_id), changes)
            if updated.pipeline_id is not None and updated.pipeline_id not in self._pipelines:
                raise pipeline_not_found(updated.pipeline_id)
            self._runs[run_id] = updated
            return _run_copy(updated, spec="spec" in changes)

    def get_run(self, run_id: str, *, spec: bool = True) -> RunRecord:
        with self._lock:
            return _run_copy(self._run(run_id), spec=spec)

    def list_runs(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        state: RunState | None = None,
        spec: bool = True,
    ) -> list[RunRecord]:
        wanted = None if state is None else coerce_state(RunRecord, state)
        with self._lock:
            runs = [r for r in self._runs.values() if wanted is None or r.state == wanted]
        runs.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        window = runs[max(offset, 0) : max(offset, 0) + max(limit, 0)]
        return [_run_copy(r, spec=spec) for r in window]

    # tasks

    def upsert_task(self, record: TaskRecord) -> None:
        new = normalized(record)
        with self._lock:
            tasks = self._tasks_of(new.run_id)
            old = tasks.get(new.task_name)
            if old is not None:
                check_state_move(old.state, new.state)
            tasks[new.task_name] = new

    def add_tasks(self, records: Sequence[TaskRecord]) -> None:
        new = [normalized(r) for r in records]
        with self._lock:
            for record in new:
                if record.task_name in self._tasks_of(record.run_id):
                    raise already_exists("task", record.task_name)
            for record in new:
                self._tasks_of(record.run_id)[record.task_name] = record

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        with self._lock:
            return [_copy(t) for t in self._tasks.get(run_id, {}).values()]

    def get_task(self, run_id: str, task_name: str) -> TaskRecord | None:
        with self._lock:
            found = self._tasks.get(run_id, {}).get(task_name)
            return None if found is None else _copy(found)

    # executions

    def add_execution(self, record: ExecutionRecord) -> None:
        new = normalized(record)
        with self._lock:
            self._run(new.run_id)
            if new.execution_id in self._executions:
                raise already_exists("execution", new.execution_id)
            self._executions[new.execution_id] = new

    def update_execution(self, execution_id: str, **changes: Any) -> None:
        check_changes(ExecutionRecord, EXECUTION_FIELDS, "execution_id", changes)
        with self._lock:
            old = self._executions.get(execution_id)
            if old is None:
                raise execution_not_found(execution_id)
            self._executions[execution_id] = apply_changes(old, changes)

    def list_executions(self, run_id: str) -> list[ExecutionRecord]:
        with self._lock:
            return [_copy(e) for e in self._executions.values() if e.run_id == run_id]

    # artifacts

    def add_artifact(self, record: ArtifactRecord) -> None:
        new = normalized(record)
        with self._lock:
            self._run(new.run_id)
            if new.artifact_id in self._artifacts:
                raise already_exists("artifact", new.artifact_id)
            self._artifacts[new.artifact_id] = new

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        with self._lock:
            return [_copy(a) for a in self._artifacts.values() if a.run_id == run_id]

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        with self._lock:
            found = self._artifacts.get(artifact_id)
            if found is None:
                raise artifact_not_found(artifact_id)
            return _copy(found)

    # across runs

    def query_artifacts(self, query: AcrossRuns) -> Page:
        def keep(a: ArtifactRecord) -> bool:
            return (query.task_name is None or a.task_name == query.task_name) and (
                not query.schema_type or type_matches(a.schema_title, query.schema_type)
            )

        return self._across(list(self._artifacts.values()), keep, query)

    def query_executions(self, query: AcrossRuns) -> Page:
        def keep(e: ExecutionRecord) -> bool:
            return (query.task_name is None or e.task_name == query.task_name) and (
                not query.state or e.state.value == query.state.strip().upper()
            )

        return self._across(list(self._executions.values()), keep, query)

    def _across(self, records: list[Any], keep: Any, query: AcrossRuns) -> Page:
        with self._lock:
            found = []
            for record in reversed(records):  # insertion order, newest first
                run = self._runs.get(record.run_id)
                if run is None or (query.run_id and record.run_id != query.run_id):
                    continue
                if query.namespaces is not None and run.namespace not in query.namespaces:
                    continue
                if keep(record):
                    found.append((record, run.display_name))
            window = found[query.offset : query.offset + query.limit]
            return Page(records=[(_copy(r), name) for r, name in window], total=len(found))

    # cache

    def get_cache(self, cache_key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._cache.get(cache_key)
            return None if entry is None else _copy(entry)

    def put_cache(self, entry: CacheEntry) -> None:
        new = normalized(entry)
        with self._lock:
            self._run(new.run_id)
            self._cache[new.cache_key] = new

    # catalog records

    def insert_record(self, record: Any) -> None:
        kind = kind_of(type(record))
        new = normalized(record)
        key = getattr(new, kind.key)
        with self._lock:
            table = self._catalog[kind.record]
            if key in table:
                raise already_exists(kind.label, key)
            if kind.parent is not None:
                parent = kind_of(kind.parent[0])
                if getattr(new, kind.parent[1]) not in self._catalog[parent.record]:
                    raise parent.not_found(getattr(new, kind.parent[1]))
            if isinstance(new, RunRecord):
                self.create_run(new)
            else:
                table[key] = new

    def get_record(self, kind_class: type, key: str) -> Any:
        kind = kind_of(kind_class)
        with self._lock:
            found = self._catalog[kind.record].get(key)
            if found is None:
                raise kind.not_found(key)
            return _copy(found)

    def update_record(self, kind_class: type, key: str, /, **changes: Any) -> Any:
        return self._update(kind_class, key, None, changes)

    def update_record_if(
        self, kind_class: type, key: str, expected: dict[str, Any], /, **changes: Any
    ) -> Any | None:
        return self._update(kind_class, key, expected, changes)

    def _update(
        self, kind_class: type, key: str, expected: dict[str, Any] | None, changes: dict[str, Any]
    ) -> Any | None:
        kind = kind_of(kind_class)
        allowed = frozenset(f.name for f in fields(kind.record))
        check_changes(kind.record, allowed, kind.key, changes)
        if expected:
            check_changes(kind.record, allowed, kind.key, expected)
        with self._lock:
            old = self._catalog[kind.record].get(key)
            if old is None:
                raise kind.not_found(key)
            if expected and any(getattr(old, f) != v for f, v in expected.items()):
                return None
            new = apply_changes(old, changes)
            if isinstance(new, RunRecord):
                self._check_slot(new)
            self._catalog[kind.record][key] = new
            if isinstance(new, RunRecord):  # as from update_run: without its spec
                return _run_copy(new, spec="spec" in changes)
            return _copy(new)

    def _check_slot(self, new: RunRecord) -> None:
        """The twin of the SQL unique index on (recurring_run_id, scheduled_at)."""
        if new.recurring_run_id is None or new.scheduled_at is None:
            return
        for other in self._runs.values():
            if (
                other.run_id != new.run_id
                and other.recurring_run_id == new.recurring_run_id
                and other.scheduled_at == new.scheduled_at
            ):
                raise StoreError(
                    "cannot update run: a database constraint refused it: the schedule slot "
                    f"{new.scheduled_at.isoformat()} already has run {other.run_id}",
                    hint="the referenced run or pipeline may have been deleted meanwhile",
                )

    def delete_record(self, kind_class: type, key: str) -> None:
        kind = kind_of(kind_class)
        with self._lock:
            if self._catalog[kind.record].pop(key, None) is None:
                raise kind.not_found(key)
            self._cascade(kind.record, key)

    def query_records(self, kind_class: type, query: ListQuery) -> Page:
        kind = kind_of(kind_class)
        query = check_query(kind, query)
        with self._lock:
            rows = [
                r
                for r in self._catalog[kind.record].values()
                if all(matches(r, p) for p in query.predicates)
                and (query.namespaces is None or r.namespace in query.namespaces)
            ]
        rows.sort(key=sort_key(query.sort_by, kind.key), reverse=query.descending)
        window = rows[query.offset : query.offset + query.limit]
        return Page(records=[_copy(r) for r in window], total=len(rows))

    def _cascade(self, kind: type, key: str) -> None:
        """What the SQL store's foreign keys do when a row goes (call with the lock held)."""
        for child in KINDS.values():
            if child.parent is not None and child.parent[0] is kind:
                table = self._catalog[child.record]
                for child_key in [
                    k for k, r in table.items() if getattr(r, child.parent[1]) == key
                ]:
                    del table[child_key]
        if kind is PipelineRecord:
            for run in self._runs.values():
                if run.pipeline_id == key:
                    run.pipeline_id = None
        if kind is RunRecord:
            self._tasks.pop(key, None)
            for table in (self._executions, self._artifacts, self._cache):
                for k in [k for k, r in table.items() if r.run_id == key]:
                    del table[k]

    def batch(self) -> AbstractContextManager[None]:
        """Writes here are applied at once (nothing to commit): a block that does nothing."""
        return nullcontext()

    def close(self) -> None:
        """Nothing to release; kept for the `MetadataStore` interface."""

    # helpers (call with the lock held)

    def _run(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise run_not_found(run_id)
        return run

    def _tasks_of(self, run_id: str) -> dict[str, TaskRecord]:
        self._run(run_id)
        return self._tasks[run_id]

    def __repr__(self) -> str:
        return f"InMemoryMetadataStore(runs={len(self._runs)})"


def _copy(record: R) -> R:
    return copy.deepcopy(record)


def _run_copy(run: RunRecord, *, spec: bool) -> RunRecord:
    """A copy of `run`; `spec=False`: without its spec, as the SQL store leaves it unread."""
    return _copy(run if spec else replace(run, spec={}))
