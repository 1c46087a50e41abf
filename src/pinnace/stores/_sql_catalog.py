"""Generic catalog access for the SQL store: insert, get, update, delete and list in SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from . import _tables as t
from ._catalog import Kind, check_query, kind_of
from ._common import (
    JSON_FIELDS,
    R,
    Record,
    already_exists,
    apply_stored_changes,
    check_changes,
    coerce_state,
    normalized,
)
from .base import ListQuery, Page, Predicate, RunRecord

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sqlalchemy import Connection


def row_values(record: Record) -> dict[str, Any]:
    """A record as column values (states as their strings)."""
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    if "state" in values:
        values["state"] = values["state"].value
    return values


def changed_values(record: Record, changes: dict[str, Any]) -> dict[str, Any]:
    """The column values of the fields named in `changes`, taken from `record`."""
    values = {name: getattr(record, name) for name in changes}
    if "state" in values:
        values["state"] = values["state"].value
    return values


def row_record(kind: type[R], row: Row[Any], **left_out: Any) -> R:
    """A row as a record of class `kind`; `left_out`: the values of fields not selected."""
    mapping = row._mapping
    values = {
        f.name: left_out[f.name] if f.name in left_out else mapping[f.name] for f in fields(kind)
    }
    if "state" in values:
        values["state"] = coerce_state(kind, values["state"])
    return kind(**values)


def table_of(kind: Kind) -> Table:
    return t.metadata.tables[kind.table]


def _condition(table: Table, predicate: Predicate) -> ColumnElement[bool]:
    column = table.c[predicate.field]
    value = predicate.value
    op = predicate.op
    if op == "substring":
        # Lower both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        return func.lower(column).contains(str(value).lower(), autoescape=True)
    if op == "in":
        return column.in_(list(value))
    if value is None:
        return column.is_(None) if op == "eq" else column.is_not(None)
    if op == "eq":
        return column == value
    if op == "ne":
        return or_(column != value, column.is_(None))
    comparisons = {
        "gt": column.__gt__,
        "ge": column.__ge__,
        "lt": column.__lt__,
        "le": column.__le__,
    }
    return comparisons[op](value)


def _where(table: Table, query: ListQuery) -> list[ColumnElement[bool]]:
    conditions = [_condition(table, p) for p in query.predicates]
    if query.namespaces is not None:
        names = [n for n in query.namespaces if n is not None]
        scope: ColumnElement[bool] = table.c.namespace.in_(names)
        if None in query.namespaces:
            scope = or_(scope, table.c.namespace.is_(None))
        conditions.append(scope)
    return conditions


Transaction = Callable[[str], "AbstractContextManager[Connection]"]
OneRow = Callable[..., Any]


class SqlCatalog:
    """The catalog records (experiments, pipeline versions, users, API tokens, recurring runs)
    in SQL, inside the transactions of the `SqlMetadataStore` that owns it.

    `read`/`write` open a read or write transaction named after the action (errors come out
    as StoreError); `one` selects one row as a record (`lock=True`: held until commit).
    """

    def __init__(self, read: Transaction, write: Transaction, one: OneRow) -> None:
        self._read = read
        self._write = write
        self._one = one

    def insert_record(self, record: Any) -> None:
        kind = kind_of(type(record))
        new = normalized(record)
        with self._write(f"create {kind.label}") as conn:
            table = table_of(kind)
            key = getattr(new, kind.key)
            if self._one(conn, table, kind.record, **{kind.key: key}):
                raise already_exists(kind.label, key)
            if kind.parent is not None:
                parent = kind_of(kind.parent[0])
                parent_key = getattr(new, kind.parent[1])
                if not self._one(
                    conn,
                    table_of(parent),
                    parent.record,
                    **{parent.key: parent_key},
                ):
                    raise parent.not_found(parent_key)
            conn.execute(insert(table).values(row_values(new)))

    def get_record(self, kind_class: type, key: str) -> Any:
        kind = kind_of(kind_class)
        where: dict[str, Any] = {kind.key: key}  # the key field, never `lock`
        with self._read(f"read {kind.label}") as conn:
            found = self._one(conn, table_of(kind), kind.record, **where)
        if found is None:
            raise kind.not_found(key)
        return found

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
        allowed = frozenset(kind.fields | _json(kind))
        check_changes(kind.record, allowed, kind.key, changes)
        if expected:
            check_changes(kind.record, allowed, kind.key, expected)
        # One write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE) makes the
        # compare and the set atomic across threads and processes.
        with self._write(f"update {kind.label}") as conn:
            table = table_of(kind)
            # A run is read and returned without its spec: only its creation writes it.
            with_spec = kind.record is not RunRecord
            old = self._one(
                conn, table, kind.record, lock=True, with_spec=with_spec, **{kind.key: key}
            )
            if old is None:
                raise kind.not_found(key)
            if expected and any(getattr(old, f) != v for f, v in expected.items()):
                return None
            new = apply_stored_changes(old, changes)
            values = changed_values(new, changes)
            if values:  # the changed columns only: a run's spec is not written again
                conn.execute(update(table).where(table.c[kind.key] == key).values(values))
            return new

    def delete_record(self, kind_class: type, key: str) -> None:
        kind = kind_of(kind_class)
        with self._write(f"delete {kind.label}") as conn:
            table = table_of(kind)
            # Foreign keys cascade (tasks, executions, artifacts, versions, tokens).
            if conn.execute(delete(table).where(table.c[kind.key] == key)).rowcount == 0:
                raise kind.not_found(key)

    def query_records(self, kind_class: type, query: ListQuery) -> Page:
        kind = kind_of(kind_class)
        query = check_query(kind, query)
        table = table_of(kind)
        where = and_(True, *_where(table, query))
        column, tie = table.c[query.sort_by], table.c[kind.key]
        order = (column.desc(), tie.desc()) if query.descending else (column.asc(), tie.asc())
        rows_query = (
            select(table).where(where).order_by(*order).limit(query.limit).offset(query.offset)
        )
        count_query = select(func.count()).select_from(table).where(where)
        with self._read(f"list {kind.label}s") as conn:
            records = [row_record(kind.record, row) for row in conn.execute(rows_query)]
            total = conn.execute(count_query).scalar_one()
        return Page(records=records, total=int(total))


def _json(kind: Kind) -> frozenset[str]:
    return frozenset(JSON_FIELDS[kind.record])
