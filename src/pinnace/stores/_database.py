"""Opening a metadata database: engine settings per dialect and upgrading the schema to head.

SQLite gets WAL mode (readers never wait for the writer), foreign keys, a busy timeout,
and `BEGIN IMMEDIATE` for write transactions so that read-modify-write steps of two
processes never interleave. `synchronous = NORMAL` in WAL mode: a commit is in the
database file's log when the transaction returns, so it survives the crash or kill -9 of
any process (what Pinnace's durability promises rely on); only a power loss or an
operating-system crash can lose the last commits before a checkpoint (FULL would fsync the
log at every commit, paid on every scheduling round of the engine). One
process reuses the engine of a SQLite file across stores opened on it (`pinnace.run`
opens one per run), so that the statements it compiled are not compiled again.

PostgreSQL and MySQL/MariaDB run at READ COMMITTED (MySQL's
default, REPEATABLE READ, would let a `SELECT ... FOR UPDATE` see rows a plain read of the
same transaction did not) and serialize migrations with an advisory lock. Alembic is
imported only when the schema is not at head.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool

from ..errors import StoreError
from ._dialects import MYSQL_DIALECTS, register
from ._tables import HEAD_REVISION

#: seconds a SQLite writer waits for another process's write lock before giving up
SQLITE_BUSY_TIMEOUT_S = 30.0
#: execution option that marks a connection as a writer (SQLite: BEGIN IMMEDIATE)
WRITE_OPTION = "pinnace_write"
# Any constant works; it only has to be the same for every Pinnace process.
_PG_MIGRATION_LOCK = 0x50494E4E
_MYSQL_MIGRATION_LOCK = "pinnace_schema_migration"
#: seconds a process waits for another one's migration (MySQL's GET_LOCK needs a limit)
_MIGRATION_WAIT_S = 300
_URL_HINT = (
    "use sqlite:///path/to/pinnace.db, postgresql+psycopg://user@host/db "
    "or mysql+pymysql://user@host/db"
)


def safe_url(database_url: str) -> str:
    """`database_url` with its password hidden, fit for error messages and logs."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", database_url)


def create_store_engine(database_url: str) -> Engine:
    """An engine for `database_url` with the settings Pinnace relies on."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise StoreError(
            f"not a database URL: {safe_url(database_url)!r}",
            hint=_URL_HINT,
        ) from None
    backend = url.get_backend_name()
    if backend in MYSQL_DIALECTS:
        register()
        if url.get_driver_name() in ("pymysql", "mysqldb") and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        # The server closes connections idle for wait_timeout (8 h by default).
        return create_engine(
            url, pool_pre_ping=True, pool_recycle=3600, isolation_level="READ COMMITTED"
        )
    if backend != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory and not database.startswith("file:"):
        _private_database_file(Path(database).expanduser())
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    if in_memory:  # a database of its own, gone with the engine: never shared
        return _sqlite_engine(create_engine(url, connect_args=connect_args, poolclass=StaticPool))
    key = url.render_as_string(hide_password=False)
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(key, None)
        if engine is None:
            engine = _sqlite_engine(create_engine(url, connect_args=connect_args))
        else:
            # No pooled connection is reused: the file may have been replaced meanwhile.
            engine.dispose()
        _ENGINES[key] = engine  # the most recently opened last
        while len(_ENGINES) > _ENGINES_KEPT:
            _ENGINES.pop(next(iter(_ENGINES)))
    return engine


#: SQLite file engines of this process by URL: a store's `close` disposes of its pooled
#: connections, and the engine (with its compiled statements) serves the next store
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
_ENGINES_KEPT = 4


def _sqlite_engine(engine: Engine) -> Engine:
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


#: how SQLite reports a full disk when it opens a database in WAL mode
_FULL_DISK = ("disk i/o error", "database or disk is full", "no space left on device")


def read_only_sqlite_engine(database_url: str, error: str) -> Engine | None:
    """A read-only engine on the SQLite file of `database_url` when `error` (from opening it
    normally) says the disk is full, else None. It reads the database file as it is (what a
    crashed writer left in the -wal file is not seen), so that `runs list`, `runs show` and
    `logs` keep working until space is freed; every write fails with a clear StoreError."""
    if not any(marker in error.lower() for marker in _FULL_DISK):
        return None
    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database.startswith("file:"):
        return None
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        return None
    read_only = f"sqlite:///file:{quote(str(path))}?mode=ro&immutable=1&uri=true"
    return create_engine(read_only, connect_args={"check_same_thread": False})


def _private_database_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600; SQLite gives its -wal and
    -shm files the same mode), and tighten the mode of one created before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # SQLite reports what is wrong with the path itself
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            if part.exists() and part.stat().st_mode & 0o077:
                part.chmod(0o600)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; _sqlite_on_begin emits BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    writer = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def current_revision(connection: Connection) -> str | None:
    """The schema revision recorded in the database, None for an empty database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine, writer: Engine) -> None:
    """Upgrade the database to `HEAD_REVISION`; a single cheap query when it is there already."""
    with engine.connect() as connection:
        if _fast_revision(connection) == HEAD_REVISION:
            return
    with writer.begin() as connection:
        dialect = connection.dialect.name
        if dialect == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        elif dialect in MYSQL_DIALECTS:
            _mysql_lock(connection)
        try:
            # Another process may have migrated while this one waited for the lock.
            if current_revision(connection) != HEAD_REVISION:
                _run_alembic_upgrade(connection)
        finally:
            if dialect in MYSQL_DIALECTS:
                # A session lock: DDL commits implicitly in MySQL, so it outlives transactions.
                connection.execute(text(f"SELECT RELEASE_LOCK('{_MYSQL_MIGRATION_LOCK}')"))


def _mysql_lock(connection: Connection) -> None:
    got = connection.execute(
        text(f"SELECT GET_LOCK('{_MYSQL_MIGRATION_LOCK}', {_MIGRATION_WAIT_S})")
    ).scalar()
    if got != 1:
        raise StoreError(
            "another process is upgrading the metadata database schema and did not finish "
            f"within {_MIGRATION_WAIT_S} s",
            hint="try again once it is done; a stuck process holding the lock can be ended",
        )


def _fast_revision(connection: Connection) -> str | None:
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        # No table yet: an empty database. (PostgreSQL: the failed statement's
        # transaction is rolled back when this connection closes.)
        return None


def _run_alembic_upgrade(connection: Connection) -> None:
    # Imported here: loading Alembic costs more than opening an up-to-date store.
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(
            f"cannot upgrade the metadata database schema: {exc}",
            hint="the database may have been written by a newer Pinnace; upgrade pinnace",
        ) from exc
