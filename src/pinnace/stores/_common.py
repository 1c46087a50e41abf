"""Rules both metadata stores share: field names, UTC datetimes, JSON values, state moves."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..errors import NotFoundError, StoreError
from ..model.state import RunState, TaskState
from .base import (
    ApiTokenRecord,
    ArtifactRecord,
    CacheEntry,
    ExecutionRecord,
    ExperimentRecord,
    PipelineRecord,
    PipelineVersionRecord,
    RecurringRunRecord,
    RunRecord,
    TaskRecord,
    UserRecord,
)

Record = (
    PipelineRecord
    | RunRecord
    | TaskRecord
    | ExecutionRecord
    | ArtifactRecord
    | CacheEntry
    | PipelineVersionRecord
    | ExperimentRecord
    | UserRecord
    | ApiTokenRecord
    | RecurringRunRecord
)
R = TypeVar(
    "R",
    PipelineRecord,
    RunRecord,
    TaskRecord,
    ExecutionRecord,
    ArtifactRecord,
    CacheEntry,
    PipelineVersionRecord,
    ExperimentRecord,
    UserRecord,
    ApiTokenRecord,
    RecurringRunRecord,
)

#: the fields of each record that hold JSON documents
JSON_FIELDS: dict[type, tuple[str, ...]] = {
    PipelineRecord: ("spec",),
    RunRecord: ("spec", "parameters", "outputs"),
    TaskRecord: ("inputs", "outputs"),
    ExecutionRecord: ("environment", "process"),
    ArtifactRecord: ("metadata",),
    CacheEntry: ("outputs",),
    PipelineVersionRecord: ("spec",),
    ExperimentRecord: (),
    UserRecord: (),
    ApiTokenRecord: (),
    RecurringRunRecord: ("spec", "parameters"),
}

RUN_FIELDS = frozenset(f.name for f in fields(RunRecord))
EXECUTION_FIELDS = frozenset(f.name for f in fields(ExecutionRecord))


def run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"run {run_id!r} not found",
        hint="list runs with `pinnace runs list`; the run may be in another database",
    )


def artifact_not_found(artifact_id: str) -> NotFoundError:
    return NotFoundError(
        f"artifact {artifact_id!r} not found",
        hint="list a run's artifacts to see which exist",
    )


def execution_not_found(execution_id: str) -> NotFoundError:
    return NotFoundError(
        f"execution {execution_id!r} not found",
        hint="record the execution with add_execution before updating it",
    )


def pipeline_not_found(pipeline_id: str) -> NotFoundError:
    return NotFoundError(
        f"pipeline {pipeline_id!r} not found",
        hint="store the pipeline with put_pipeline first, or leave pipeline_id empty",
    )


def already_exists(kind: str, key: str) -> StoreError:
    return StoreError(f"{kind} {key!r} already exists", hint=f"use a new {kind} id")


def utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime; a naive value is read as local time, like Python does."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise StoreError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    return value.astimezone(timezone.utc)


def json_copy(value: Any, where: str) -> Any:
    """A deep copy of `value` as stored JSON gives it back (tuples become lists).

    NaN and infinity are refused because PostgreSQL's JSON type refuses them.
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{where} is not JSON-serializable: {exc}",
            hint="store only str, int, float, bool, None, lists and dicts with string keys",
        ) from None


def normalized(record: R) -> R:
    """A copy of `record` as the store keeps it: UTC datetimes, JSON copies, enum states."""
    kind = type(record)
    values: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name in JSON_FIELDS[kind]:
            value = json_copy(value, f"{kind.__name__}.{f.name}")
        elif isinstance(value, datetime):
            value = utc(value)
        values[f.name] = value
    if "state" in values:
        values["state"] = coerce_state(kind, values["state"])
    return kind(**values)


def coerce_state(kind: type, value: Any) -> RunState | TaskState:
    """`value` (an enum member or its string) as the state enum of record type `kind`."""
    enum: type[RunState] | type[TaskState] = RunState if kind is RunRecord else TaskState
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(s.value for s in enum)
        raise StoreError(
            f"unknown {enum.__name__} {value!r}", hint=f"use one of: {allowed}"
        ) from None


def check_changes(kind: type, allowed: frozenset[str], key: str, changes: dict[str, Any]) -> None:
    """Refuse unknown fields and changes to the record's key (a caller bug, said clearly)."""
    unknown = sorted(set(changes) - allowed)
    if unknown or key in changes:
        bad = unknown or [key]
        raise StoreError(
            f"cannot update {kind.__name__} field(s) {', '.join(bad)}",
            hint=f"updatable fields: {', '.join(sorted(allowed - {key}))}",
        )


def apply_changes(record: R, changes: dict[str, Any]) -> R:
    """`record` with `changes` applied and normalized; state moves are checked."""
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    values.update(changes)
    updated = normalized(type(record)(**values))
    if isinstance(record, RunRecord) and isinstance(updated, RunRecord):
        check_state_move(record.state, updated.state)
    return updated


def apply_stored_changes(record: R, changes: dict[str, Any]) -> R:
    """`apply_changes` for a `record` just read back from a database (normalized already):
    only `changes` are normalized, so that a run's large spec is not copied at each update."""
    kind = type(record)
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name in JSON_FIELDS[kind]:
            value = json_copy(value, f"{kind.__name__}.{name}")
        elif isinstance(value, datetime):
            value = utc(value)
        values[name] = value
    if "state" in values:
        values["state"] = coerce_state(kind, values["state"])
    updated = replace(record, **values)
    if isinstance(record, RunRecord) and isinstance(updated, RunRecord):
        check_state_move(record.state, updated.state)
    return updated


def check_state_move(old: RunState | TaskState, new: RunState | TaskState) -> None:
    """Raise `IllegalTransition` for a state change the state machine does not allow."""
    if old != new:
        old.check_move(new)  # type: ignore[arg-type]
