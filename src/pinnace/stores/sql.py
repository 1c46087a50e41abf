"""The SQL metadata store: SQLAlchemy Core on SQLite (default) or PostgreSQL.

Each call runs in its own short transaction on a pooled connection, so one store may be
shared by the engine's threads, and several processes may open the same database. Inside
`batch()` a thread's task, execution, artifact and cache writes are kept and committed
together in one transaction when the block ends (the engine writes one scheduling round
so: one commit per round instead of one per write).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..errors import PinnaceError, StoreError
from ..model.state import IllegalTransition, RunState, TaskState
from . import _sql_across
from . import _tables as t
from ._common import (
    EXECUTION_FIELDS,
    RUN_FIELDS,
    R,
    already_exists,
    apply_stored_changes,
    artifact_not_found,
    check_changes,
    check_state_move,
    coerce_state,
    execution_not_found,
    normalized,
    pipeline_not_found,
    run_not_found,
)
from ._database import (
    WRITE_OPTION,
    create_store_engine,
    ensure_schema,
    read_only_sqlite_engine,
    safe_url,
)
from ._sql_catalog import SqlCatalog, changed_values
from ._sql_catalog import row_record as _record
from ._sql_catalog import row_values as _values
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
)

_LOG = logging.getLogger("pinnace.stores.sql")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# The statements of every task's life, built once: building a statement and its cache key
# costs more than running it on SQLite (`b_` names keep WHERE apart from SET columns).
_RUN_EXISTS = select(t.runs.c.run_id).where(t.runs.c.run_id == bindparam("b_run_id"))
_TASK_WHERE = (
    t.tasks.c.run_id == bindparam("b_run_id"),
    t.tasks.c.task_name == bindparam("b_task_name"),
)
_TASK_STATE = select(t.tasks.c.state).where(*_TASK_WHERE).with_for_update()
_TASK_INSERT = insert(t.tasks)
_TASK_UPDATE = update(t.tasks).where(*_TASK_WHERE)
_EXECUTION_WHERE = t.executions.c.execution_id == bindparam("b_execution_id")
_EXECUTION_ONE = select(t.executions).where(_EXECUTION_WHERE)
_EXECUTION_INSERT = insert(t.executions)
_EXECUTION_UPDATE = update(t.executions).where(_EXECUTION_WHERE)
_ARTIFACT_INSERT = insert(t.artifacts)
_CACHE_INSERT = insert(t.cache_entries)
_CACHE_UPDATE = update(t.cache_entries).where(
    t.cache_entries.c.cache_key == bindparam("b_cache_key")
)


def _states_before(new: TaskState) -> list[str]:
    """The stored states a task may have for an upsert to `new` to be a legal move."""
    before = []
    for old in TaskState:
        try:
            check_state_move(old, new)
        except IllegalTransition:
            continue
        before.append(old.value)
    return before


#: per new state, an update that only applies when the stored state may move to it (the
#: states are constants of the statement: an IN list of parameters is rendered each time)
_TASK_MOVE = {
    state: update(t.tasks).where(
        *_TASK_WHERE, or_(*(t.tasks.c.state == literal(old) for old in _states_before(state)))
    )
    for state in TaskState
}


class _Transaction:
    """What one write transaction already checked: the runs known to exist in it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.runs: set[str] = set()


#: one buffered write: what it does (for error messages) and how
_Write = tuple[str, Callable[[_Transaction], None]]


class _Batch:
    """A thread's writes kept for one transaction (see `SqlMetadataStore.batch`)."""

    def __init__(self) -> None:
        self.writes: list[_Write] = []
        #: cache entries written in the batch, so that a read of one sees it
        self.cache: dict[str, CacheEntry] = {}


class SqlMetadataStore:
    """A `MetadataStore` in a SQL database; opening it upgrades the schema to head.

    Example:
        >>> store = SqlMetadataStore("sqlite:////tmp/pinnace-example/pinnace.db")
        >>> store.get_run("r-1").state  # after the engine created run "r-1"
        <RunState.RUNNING: 'RUNNING'>
        >>> store.close()
    """

    def __init__(self, database_url: str) -> None:
        self.url = safe_url(database_url)
        #: opened read-only because the disk is full (reads work, writes fail clearly)
        self.read_only = False
        try:
            with self._translate("open the metadata database"):
                self._engine = create_store_engine(database_url)
                self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
                ensure_schema(self._engine, self._writer)
        except StoreError as exc:
            engine = read_only_sqlite_engine(database_url, str(exc))
            if engine is None:
                raise
            # SQLite cannot make its shared-memory file on a full disk: read what is there.
            self._engine = engine
            self._writer = engine.execution_options(**{WRITE_OPTION: True})
            self.read_only = True
        self._local = threading.local()
        self._catalog = SqlCatalog(self._read, self._write, self._one)

    # batching

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Commit this thread's writes of the block together, in one transaction, at its end.

        Task, execution, artifact and cache writes are checked (JSON values, fields) when
        called and applied in call order at the end; any other call (a read, a run update)
        applies the writes kept so far first, so reads see them. The batch is one
        transaction: it commits all its writes or none (a write that fails, e.g. for a run
        deleted meanwhile, raises when the block ends). When the block ends with an
        exception, the writes made before it are still committed, as they would have been
        one by one, and the exception goes on. Nested batches join the outer one.
        """
        if getattr(self._local, "batch", None) is not None:
            yield
            return
        batch = self._local.batch = _Batch()
        try:
            yield
        except BaseException:
            self._local.batch = None
            try:
                self._commit(batch.writes)
            except Exception:
                _LOG.warning("cannot commit a batch of writes", exc_info=True)
            raise
        self._local.batch = None
        self._commit(batch.writes)

    def _apply(self, action: str, write: Callable[[_Transaction], None]) -> None:
        """Run `write` in its own transaction, or keep it for the thread's batch."""
        batch = getattr(self._local, "batch", None)
        if batch is not None:
            batch.writes.append((action, write))
            return
        with self._write(action) as conn:
            write(_Transaction(conn))

    def _commit(self, writes: list[_Write]) -> None:
        if not writes:
            return
        with self._translate(writes[0][0]), self._writer.begin() as conn:
            self._run_writes(conn, writes)

    def _run_writes(self, conn: Connection, writes: list[_Write]) -> None:
        transaction = _Transaction(conn)
        for action, write in writes:
            with self._translate(action):
                write(transaction)

    def _take_batch(self) -> list[_Write]:
        """The writes this thread's batch kept so far (they are applied by the caller)."""
        batch = getattr(self._local, "batch", None)
        if batch is None or not batch.writes:
            return []
        writes, batch.writes = batch.writes, []
        batch.cache.clear()
        return writes

    # catalog records: experiments, pipeline versions, users, API tokens, recurring runs

    def insert_record(self, record: Any) -> None:
        self._catalog.insert_record(record)

    def get_record(self, kind_class: type, key: str) -> Any:
        return self._catalog.get_record(kind_class, key)

    def update_record(self, kind_class: type, key: str, /, **changes: Any) -> Any:
        return self._catalog.update_record(kind_class, key, **changes)

    def update_record_if(
        self, kind_class: type, key: str, expected: dict[str, Any], /, **changes: Any
    ) -> Any | None:
        return self._catalog.update_record_if(kind_class, key, expected, **changes)

    def delete_record(self, kind_class: type, key: str) -> None:
        self._catalog.delete_record(kind_class, key)

    def query_records(self, kind_class: type, query: ListQuery) -> Page:
        return self._catalog.query_records(kind_class, query)

    # pipelines

    def put_pipeline(self, record: PipelineRecord) -> PipelineRecord:
        """Store `record`, or update the spec and description of the pipeline of that name."""
        new = normalized(record)
        with self._write("store pipeline") as conn:
            stored = self._one(conn, t.pipelines, PipelineRecord, name=new.name, lock=True)
            if stored is not None:
                stored.spec, stored.description = new.spec, new.description
                conn.execute(
                    update(t.pipelines)
                    .where(t.pipelines.c.pipeline_id == stored.pipeline_id)
                    .values(spec=new.spec, description=new.description)
                )
                return stored
            if self._one(conn, t.pipelines, PipelineRecord, pipeline_id=new.pipeline_id):
                raise already_exists("pipeline", new.pipeline_id)
            conn.execute(insert(t.pipelines).values(_values(new)))
            return new

    def get_pipeline_by_name(self, name: str) -> PipelineRecord | None:
        with self._read("read pipeline") as conn:
            return self._one(conn, t.pipelines, PipelineRecord, name=name)

    # runs

    def create_run(self, record: RunRecord) -> None:
        new = normalized(record)
        with self._write("create run") as conn:
            if self._one(conn, t.runs, RunRecord, run_id=new.run_id):
                raise already_exists("run", new.run_id)
            self._check_pipeline(conn, new.pipeline_id)
            conn.execute(insert(t.runs).values(_values(new)))

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        check_changes(RunRecord, RUN_FIELDS, "run_id", changes)
        with self._write("update run") as conn:
            old = self._run(conn, run_id, lock=True, spec=False)
            new = apply_stored_changes(old, changes)
            if "pipeline_id" in changes:
                self._check_pipeline(conn, new.pipeline_id)
            values = changed_values(new, changes)
            if values:  # the changed columns only: a run's spec is not written again
                conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(values))
            return new

    def get_run(self, run_id: str, *, spec: bool = True) -> RunRecord:
        with self._read("read run") as conn:
            return self._run(conn, run_id, spec=spec)

    def list_runs(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        state: RunState | None = None,
        spec: bool = True,
    ) -> list[RunRecord]:
        query = select(*_columns(t.runs, spec)).order_by(
            t.runs.c.created_at.desc(), t.runs.c.run_id.desc()
        )
        if state is not None:
            query = query.where(t.runs.c.state == coerce_state(RunRecord, state).value)
        query = query.limit(max(limit, 0)).offset(max(offset, 0))
        with self._read("list runs") as conn:
            rows = conn.execute(query)
            if spec:
                return [_record(RunRecord, row) for row in rows]
            return [_record(RunRecord, row, spec={}) for row in rows]

    # tasks

    def upsert_task(self, record: TaskRecord) -> None:
        new = normalized(record)
        values = _values(new)

        def write(txn: _Transaction) -> None:
            where = {"b_run_id": new.run_id, "b_task_name": new.task_name}
            # Mostly one statement: the update of a stored task whose state may move so.
            if txn.conn.execute(_TASK_MOVE[new.state], {**values, **where}).rowcount:
                return
            # A new task, or a move the state machine refuses (said as such).
            self._require_run(txn, new.run_id)
            old_state = txn.conn.execute(_TASK_STATE, where).scalar()
            if old_state is None:
                txn.conn.execute(_TASK_INSERT, values)
                return
            check_state_move(TaskState(old_state), new.state)
            txn.conn.execute(_TASK_UPDATE, {**values, **where})

        self._apply("store task", write)

    def add_tasks(self, records: Sequence[TaskRecord]) -> None:
        new = [normalized(r) for r in records]
        if not new:
            return
        rows = [_values(r) for r in new]

        def write(txn: _Transaction) -> None:
            for run_id in {r.run_id for r in new}:
                self._require_run(txn, run_id)
            try:
                txn.conn.execute(_TASK_INSERT, rows)  # one executemany
            except IntegrityError as exc:  # uq_tasks_run_id_task_name: the only one left
                raise already_exists("task", _reason(exc)) from exc

        self._apply("add tasks", write)

    def list_tasks(self, run_id: str) -> list[TaskRecord]:
        return self._list(t.tasks, TaskRecord, run_id, "list tasks")

    def get_task(self, run_id: str, task_name: str) -> TaskRecord | None:
        """One task of a run by its path (one row, not the run's whole task list)."""
        with self._read("read task") as conn:
            return self._one(conn, t.tasks, TaskRecord, run_id=run_id, task_name=task_name)

    # executions

    def add_execution(self, record: ExecutionRecord) -> None:
        new = normalized(record)
        values = _values(new)

        def write(txn: _Transaction) -> None:
            self._require_run(txn, new.run_id)
            where = {"b_execution_id": new.execution_id}
            if txn.conn.execute(_EXECUTION_ONE, where).first() is not None:
                raise already_exists("execution", new.execution_id)
            txn.conn.execute(_EXECUTION_INSERT, values)

        self._apply("add execution", write)

    def update_execution(self, execution_id: str, **changes: Any) -> None:
        check_changes(ExecutionRecord, EXECUTION_FIELDS, "execution_id", changes)
        # Checked and copied now (JSON values, datetimes): a batch applies them later.
        checked = apply_stored_changes(_blank_execution(execution_id), changes)
        changes = {name: getattr(checked, name) for name in changes}

        values = {n: v.value if n == "state" else v for n, v in changes.items()}

        def write(txn: _Transaction) -> None:
            where = {"b_execution_id": execution_id}
            # Only the changed columns (no read of the stored row); none updated: not there.
            if values and txn.conn.execute(_EXECUTION_UPDATE, {**values, **where}).rowcount:
                return
            if txn.conn.execute(_EXECUTION_ONE, where).first() is None:
                raise execution_not_found(execution_id)

        self._apply("update execution", write)

    def list_executions(self, run_id: str) -> list[ExecutionRecord]:
        return self._list(t.executions, ExecutionRecord, run_id, "list executions")

    # artifacts

    def add_artifact(self, record: ArtifactRecord) -> None:
        new = normalized(record)
        values = _values(new)

        def write(txn: _Transaction) -> None:
            self._require_run(txn, new.run_id)
            if self._one(txn.conn, t.artifacts, ArtifactRecord, artifact_id=new.artifact_id):
                raise already_exists("artifact", new.artifact_id)
            txn.conn.execute(_ARTIFACT_INSERT, values)

        self._apply("add artifact", write)

    def list_artifacts(self, run_id: str) -> list[ArtifactRecord]:
        return self._list(t.artifacts, ArtifactRecord, run_id, "list artifacts")

    def get_artifact(self, artifact_id: str) -> ArtifactRecord:
        """One artifact by id, through the unique artifact_id index (no scan)."""
        with self._read("read artifact") as conn:
            found = self._one(conn, t.artifacts, ArtifactRecord, artifact_id=artifact_id)
        if found is None:
            raise artifact_not_found(artifact_id)
        return found

    # across runs

    def query_artifacts(self, query: AcrossRuns) -> Page:
        with self._read("list artifacts") as conn:
            return _sql_across.query_artifacts(conn, query)

    def query_executions(self, query: AcrossRuns) -> Page:
        with self._read("list executions") as conn:
            return _sql_across.query_executions(conn, query)

    # cache

    def get_cache(self, cache_key: str) -> CacheEntry | None:
        batch = getattr(self._local, "batch", None)
        if batch is not None and cache_key in batch.cache:
            return normalized(batch.cache[cache_key])  # written in this batch: not yet stored
        # Only put_cache writes cache entries: the batch's other writes need not go first.
        with self._translate("read cache entry"), self._engine.connect() as conn:
            return self._one(conn, t.cache_entries, CacheEntry, cache_key=cache_key)

    def put_cache(self, entry: CacheEntry) -> None:
        new = normalized(entry)
        values = _values(new)

        def write(txn: _Transaction) -> None:
            self._require_run(txn, new.run_id)
            where = {"b_cache_key": new.cache_key}
            if not txn.conn.execute(_CACHE_UPDATE, {**values, **where}).rowcount:
                txn.conn.execute(_CACHE_INSERT, values)

        self._apply("store cache entry", write)
        batch = getattr(self._local, "batch", None)
        if batch is not None:
            batch.cache[new.cache_key] = new

    def close(self) -> None:
        """Close the pooled connections; the store must not be used afterwards."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self.url!r})"

    # helpers

    def _require_run(self, txn: _Transaction, run_id: str) -> None:
        """NotFoundError unless the run exists (without decoding its spec); once for each
        run in a transaction (which holds the write lock: nobody deletes it meanwhile)."""
        if run_id in txn.runs:
            return
        found = txn.conn.execute(_RUN_EXISTS, {"b_run_id": run_id}).first()
        if found is None:
            raise run_not_found(run_id)
        txn.runs.add(run_id)

    def _run(
        self, conn: Connection, run_id: str, *, lock: bool = False, spec: bool = True
    ) -> RunRecord:
        run = self._one(conn, t.runs, RunRecord, run_id=run_id, lock=lock, with_spec=spec)
        if run is None:
            raise run_not_found(run_id)
        return run

    def _check_pipeline(self, conn: Connection, pipeline_id: str | None) -> None:
        if pipeline_id is not None and not self._one(
            conn, t.pipelines, PipelineRecord, pipeline_id=pipeline_id
        ):
            raise pipeline_not_found(pipeline_id)

    @staticmethod
    def _one(
        conn: Connection,
        table: Table,
        kind: type[R],
        *,
        lock: bool = False,
        with_spec: bool = True,
        **where: Any,
    ) -> R | None:
        """One row as a record; `with_spec=False`: its spec column is not read ({})."""
        query = select(*_columns(table, with_spec))
        query = query.where(*(table.c[k] == v for k, v in where.items()))
        if lock:
            # PostgreSQL: hold the row until commit. SQLite ignores it; BEGIN IMMEDIATE
            # already made this transaction the only writer.
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            return None
        return _record(kind, row) if with_spec else _record(kind, row, spec={})

    def _list(self, table: Table, kind: type[R], run_id: str, action: str) -> list[R]:
        query = select(table).where(table.c.run_id == run_id).order_by(table.c.seq)
        with self._read(action) as conn:
            return [_record(kind, row) for row in conn.execute(query)]

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        self._commit(self._take_batch())  # a read sees this thread's writes
        with self._translate(action), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        with self._translate(action), self._writer.begin() as conn:
            self._run_writes(conn, self._take_batch())  # this thread's writes go first
            yield conn

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn SQLAlchemy and driver errors into `StoreError` naming the database."""
        try:
            yield
        except PinnaceError:
            raise
        except IntegrityError as exc:
            raise StoreError(
                f"cannot {action}: a database constraint refused it: {_reason(exc)}",
                uri=self.url,
                hint="the referenced run or pipeline may have been deleted meanwhile",
            ) from exc
        except OperationalError as exc:
            raise StoreError(
                f"cannot {action}: {_reason(exc)}",
                uri=self.url,
                hint="check that the database is reachable and writable; with SQLite, that "
                "no other process holds a write transaction open for long",
            ) from exc
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(
                f"cannot {action}: {_reason(exc)}",
                uri=self.url,
                hint="for PostgreSQL install a driver: pip install 'psycopg[binary]'"
                if isinstance(exc, ImportError)
                else None,
            ) from exc


def _columns(table: Table, spec: bool) -> list[Any]:
    """The columns to select from `table`: all, or all but its spec (decoding a 1,000-task
    run's spec costs ~0.05-0.1 s; the rest of the row well under a millisecond)."""
    if spec or "spec" not in table.c:
        return [table]
    return [column for column in table.c if column.name != "spec"]


def _blank_execution(execution_id: str) -> ExecutionRecord:
    """An execution to check changes against before the stored one is read."""
    return ExecutionRecord(
        execution_id=execution_id,
        run_id="",
        task_name="",
        attempt=1,
        state=TaskState.RUNNING,
        started_at=_EPOCH,
    )


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
