"""SQL for lists of artifacts and executions across runs: one join on the runs' key, filtered
by the runs' namespaces, walked newest first along the primary key, one page at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, literal, or_, select

from . import _tables as t
from ._sql_catalog import row_record
from .base import AcrossRuns, ArtifactRecord, ExecutionRecord, Page

_RUN_NAME = "run_display_name"


def query_artifacts(conn: Connection, query: AcrossRuns) -> Page:
    where = _common(t.artifacts, query)
    if query.schema_type:
        wanted = query.schema_type.strip().lower()
        title = func.lower(t.artifacts.c.schema_title)
        suffix = "%." + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(or_(title == wanted, title.like(literal(suffix), escape="\\")))
    return _page(conn, t.artifacts, ArtifactRecord, where, query)


def query_executions(conn: Connection, query: AcrossRuns) -> Page:
    where = _common(t.executions, query)
    if query.state:
        where.append(t.executions.c.state == query.state.strip().upper())
    return _page(conn, t.executions, ExecutionRecord, where, query)


def _common(table: Table, query: AcrossRuns) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [table.c.run_id == t.runs.c.run_id]
    if query.run_id:
        where.append(table.c.run_id == query.run_id)
    if query.task_name:
        where.append(table.c.task_name == query.task_name)
    if query.namespaces is not None:
        names = [n for n in query.namespaces if n is not None]
        scope: ColumnElement[bool] = t.runs.c.namespace.in_(names)
        if None in query.namespaces:
            scope = or_(scope, t.runs.c.namespace.is_(None))
        where.append(scope)
    return where


def _page(
    conn: Connection, table: Table, kind: Any, where: list[ColumnElement[bool]], query: AcrossRuns
) -> Page:
    rows = conn.execute(
        select(table, t.runs.c.display_name.label(_RUN_NAME))
        .select_from(table.join(t.runs, table.c.run_id == t.runs.c.run_id))
        .where(*where)
        .order_by(table.c.seq.desc())
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    total = conn.execute(
        select(func.count())
        .select_from(table.join(t.runs, table.c.run_id == t.runs.c.run_id))
        .where(*where)
    ).scalar_one()
    return Page(
        records=[(row_record(kind, row), row._mapping[_RUN_NAME]) for row in rows], total=total
    )
