"""How the schema's portable types are written on MySQL and MariaDB.

The tables and migrations use lengthless `String` and `DateTime(timezone=True)`, which
SQLite and PostgreSQL take as they are. MySQL needs a length on every VARCHAR, keeps only
whole seconds in DATETIME, and compares text case-insensitively by default. The rules here
apply to MySQL/MariaDB only, at DDL time, so SQLite and PostgreSQL schemas stay unchanged:

- a lengthless string that is part of a key or an index becomes `VARCHAR(255)` (InnoDB's
  3,072-byte key limit allows two such columns in one index in utf8mb4);
- any other lengthless string becomes `TEXT` (URIs, names and paths can be long);
- every string column compares byte for byte (`utf8mb4_bin`), as on the other databases;
- a timezone-aware datetime becomes `DATETIME(6)` holding UTC (microseconds are kept).

Which columns are keys is read from `_tables.metadata`, the schema the migrations build.
The migrations' DDL gets these types from compile rules that see each column (`register`);
`_tables.metadata` carries them as variants (`adapt_metadata`), so that comparing the two on
MySQL finds no difference. Both are installed by `register`, before the first MySQL/MariaDB
engine is made: SQLAlchemy's MySQL dialect is not imported by a process that uses SQLite
(it was ~8 ms of every `pinnace run`).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from sqlalchemy import DateTime, MetaData, String, Text

from ._tables import metadata as _metadata

#: the dialect names SQLAlchemy uses for MySQL and MariaDB servers
MYSQL_DIALECTS = ("mysql", "mariadb")
KEY_LENGTH = 255
COLLATION = "utf8mb4_bin"


@lru_cache(maxsize=1)
def _key_columns() -> frozenset[tuple[str, str]]:
    return key_columns(_metadata)


def key_columns(metadata: MetaData) -> frozenset[tuple[str, str]]:
    """(table, column) pairs that are in a primary key, foreign key, index or unique rule."""
    keys: set[tuple[str, str]] = set()
    for table in metadata.tables.values():
        for column in table.columns:
            if column.primary_key or column.foreign_keys or column.index or column.unique:
                keys.add((table.name, column.name))
        for index in table.indexes:
            keys.update((table.name, c.name) for c in index.columns)
        for constraint in table.constraints:
            keys.update((table.name, c.name) for c in getattr(constraint, "columns", ()))
    return frozenset(keys)


def adapt_metadata(metadata: MetaData) -> None:
    """Give the lengthless strings of `metadata` their MySQL/MariaDB types as variants."""
    from sqlalchemy.dialects import mysql

    keys = key_columns(metadata)
    for table in metadata.tables.values():
        for column in table.columns:
            kind = type(column.type)
            if kind not in (String, Text) or getattr(column.type, "length", None) is not None:
                continue
            key = kind is String and (table.name, column.name) in keys
            variant = (
                mysql.VARCHAR(KEY_LENGTH, collation=COLLATION)
                if key
                else mysql.TEXT(collation=COLLATION)
            )
            column.type = column.type.with_variant(variant, *MYSQL_DIALECTS)


def _column_of(kw: dict[str, Any]) -> tuple[str, str] | None:
    column = kw.get("type_expression")
    table = getattr(column, "table", None)
    name = getattr(column, "name", None)
    if table is None or not isinstance(name, str):
        return None
    return (str(getattr(table, "name", "")), name)


def _string(type_: String, compiler: Any, **kw: Any) -> str:
    if type_.length is not None:
        return f"VARCHAR({type_.length}) COLLATE {COLLATION}"
    where = _column_of(kw)
    if where is None or where in _key_columns():
        return f"VARCHAR({KEY_LENGTH}) COLLATE {COLLATION}"
    return f"TEXT COLLATE {COLLATION}"


def _text(type_: Text, compiler: Any, **kw: Any) -> str:
    return f"TEXT COLLATE {COLLATION}"


def _datetime(type_: DateTime, compiler: Any, **kw: Any) -> str:
    return "DATETIME(6)"


_registered: list[bool] = []
_register_lock = threading.Lock()


def register() -> None:
    """Install the compile rules and `_tables.metadata`'s variants (once per process);
    called before a MySQL/MariaDB engine is made."""
    from sqlalchemy.ext.compiler import compiles

    with _register_lock:
        if _registered:
            return
        for dialect in MYSQL_DIALECTS:
            compiles(String, dialect)(_string)
            compiles(Text, dialect)(_text)
            compiles(DateTime, dialect)(_datetime)
        adapt_metadata(_metadata)
        _registered.append(True)
