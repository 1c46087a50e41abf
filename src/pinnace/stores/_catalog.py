"""The catalog record kinds both metadata stores serve generically: table, key, query rules."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ..errors import NotFoundError, UserInputError
from ._common import JSON_FIELDS
from .base import (
    ApiTokenRecord,
    ExperimentRecord,
    ListQuery,
    PipelineRecord,
    PipelineVersionRecord,
    Predicate,
    RecurringRunRecord,
    RunRecord,
    UserRecord,
)

OPERATIONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "in", "substring"})
#: page sizes above this are clamped (KFP's maximum is 200; the benchmark may ask more)
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Kind:
    """How one record class is stored: its table, key field and the fields lists may use."""

    record: type
    table: str
    key: str
    label: str
    #: (parent kind, field): the parent row must exist; deleting it cascades
    parent: tuple[type, str] | None = None

    @property
    def fields(self) -> frozenset[str]:
        """Scalar fields: filterable and sortable (JSON documents are not)."""
        return frozenset(f.name for f in fields(self.record)) - set(JSON_FIELDS[self.record])

    def not_found(self, key: str) -> NotFoundError:
        return NotFoundError(
            f"{self.label} {key!r} not found",
            hint=f"list {self.label}s to see which exist (you only see your own namespace)",
        )


KINDS: dict[type, Kind] = {
    k.record: k
    for k in (
        Kind(PipelineRecord, "pipelines", "pipeline_id", "pipeline"),
        Kind(
            PipelineVersionRecord,
            "pipeline_versions",
            "pipeline_version_id",
            "pipeline version",
            parent=(PipelineRecord, "pipeline_id"),
        ),
        Kind(ExperimentRecord, "experiments", "experiment_id", "experiment"),
        Kind(RunRecord, "runs", "run_id", "run"),
        Kind(UserRecord, "users", "name", "user"),
        Kind(
            ApiTokenRecord, "api_tokens", "token_id", "API token", parent=(UserRecord, "user_name")
        ),
        Kind(RecurringRunRecord, "recurring_runs", "recurring_run_id", "recurring run"),
    )
}


def kind_of(record_class: type) -> Kind:
    try:
        return KINDS[record_class]
    except KeyError:
        raise UserInputError(
            f"{getattr(record_class, '__name__', record_class)} is not a catalog record",
            hint=f"use one of: {', '.join(sorted(k.__name__ for k in KINDS))}",
        ) from None


def check_query(kind: Kind, query: ListQuery) -> ListQuery:
    """Refuse unknown fields and operations; clamp the page window."""
    allowed = kind.fields
    for p in query.predicates:
        if p.field not in allowed:
            raise UserInputError(
                f"cannot filter {kind.label}s on {p.field!r}",
                hint=f"filterable fields: {', '.join(sorted(allowed))}",
            )
        if p.op not in OPERATIONS:
            raise UserInputError(
                f"unknown filter operation {p.op!r}",
                hint=f"use one of: {', '.join(sorted(OPERATIONS))}",
            )
        if p.op == "in" and not isinstance(p.value, (list, tuple, set, frozenset)):
            raise UserInputError(f"filter 'in' on {p.field!r} needs a list of values")
    if query.sort_by not in allowed:
        raise UserInputError(
            f"cannot sort {kind.label}s by {query.sort_by!r}",
            hint=f"sortable fields: {', '.join(sorted(allowed))}",
        )
    limit = min(max(query.limit, 0), MAX_LIMIT)
    offset = max(query.offset, 0)
    if (limit, offset) == (query.limit, query.offset):
        return query
    return ListQuery(
        query.predicates, query.sort_by, query.descending, limit, offset, query.namespaces
    )


def matches(record: Any, predicate: Predicate) -> bool:
    """Python twin of the SQL predicate (the in-memory store uses it)."""
    value, wanted, op = getattr(record, predicate.field), predicate.value, predicate.op
    if op == "substring":
        return value is not None and str(wanted).lower() in str(value).lower()
    if op == "in":
        return value in wanted
    if op in ("eq", "ne"):
        return (value == wanted) == (op == "eq")
    if value is None or wanted is None:
        return False
    try:
        return {
            "gt": value > wanted,
            "ge": value >= wanted,
            "lt": value < wanted,
            "le": value <= wanted,
        }[op]
    except TypeError:
        return False


def sort_key(field: str, key: str) -> Any:
    """Sort key for Python lists: None first (as SQLite sorts NULL), then value, then the key."""

    def _key(record: Any) -> tuple[Any, ...]:
        value = getattr(record, field)
        if isinstance(value, datetime):
            value = value.timestamp()
        return (value is not None, value if value is not None else 0, getattr(record, key))

    return _key
