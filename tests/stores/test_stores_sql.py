"""SQL metadata store specifics: migrations, the fast open path, SQLite settings, processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from pinnace.errors import NotFoundError, StoreError
from pinnace.model.state import RunState, TaskState
from pinnace.stores._database import current_revision
from pinnace.stores._tables import HEAD_REVISION, metadata
from pinnace.stores.base import RunRecord, TaskRecord
from pinnace.stores.sql import SqlMetadataStore

MIGRATIONS = Path(__file__).parents[2] / "src/pinnace/stores/migrations"


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'pinnace.db'}"


def test_fresh_file_is_migrated_to_head_matching_the_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = sqlite_url(tmp_path)
    SqlMetadataStore(url).close()  # also creates the missing parent folder
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            HEAD_REVISION
        )
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert diffs == []
    assert {"pipelines", "runs", "tasks", "executions", "artifacts", "cache_entries"} <= names


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_server_database_is_migrated_to_head_matching_the_tables(
    backend: str, request: pytest.FixtureRequest
) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = request.getfixturevalue(f"{backend}_url")
    store = SqlMetadataStore(url)
    with store._engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        names = set(sa.inspect(conn).get_table_names())
    store.close()
    assert diffs == []
    assert {"pipelines", "runs", "tasks", "executions", "artifacts", "cache_entries"} <= names
    # a second open finds the schema at head and changes nothing
    SqlMetadataStore(url).close()


def test_opening_an_up_to_date_sqlite_store_skips_alembic_and_mysql(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SqlMetadataStore(url).close()
    result = run_python(
        """
        import sys, time, json
        from pinnace.stores.sql import SqlMetadataStore
        store = SqlMetadataStore(sys.argv[1])
        store.list_runs()
        alembic = any(m.startswith("alembic") for m in sys.modules)
        mysql = any(m.startswith("sqlalchemy.dialects.mysql") for m in sys.modules)
        print(json.dumps({"alembic": alembic, "mysql": mysql}))
        """,
        url,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["alembic"] is False  # the fast path: the schema is at head already
    assert report["mysql"] is False  # MySQL's dialect and types load for MySQL only


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    store = SqlMetadataStore(sqlite_url(tmp_path))
    with store._engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") >= 10_000
    store.close()


_WRITER = """
import sys
from datetime import datetime, timezone
from pinnace.model.state import RunState, TaskState
from pinnace.stores.base import RunRecord, TaskRecord
from pinnace.stores.sql import SqlMetadataStore

url, tag = sys.argv[1], sys.argv[2]
store = SqlMetadataStore(url)
now = datetime.now(timezone.utc)
try:
    store.create_run(RunRecord("shared", "p", "p", {}, {}, RunState.PENDING, now))
except Exception as exc:  # the other process created it first
    assert "already exists" in str(exc), exc
for i in range(40):
    store.upsert_task(TaskRecord("shared", f"{tag}-{i}", "t", TaskState.PENDING))
    store.upsert_task(TaskRecord("shared", f"{tag}-{i}", "t", TaskState.RUNNING))
    store.update_run("shared", owner=tag)
store.close()
print("ok")
"""


def test_two_processes_migrate_and_write_one_fresh_file_together(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, tag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b", "c")
    ]
    outcomes = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outcomes):
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    store = SqlMetadataStore(url)
    tasks = store.list_tasks("shared")
    assert len(tasks) == 120
    assert {t.state for t in tasks} == {TaskState.RUNNING}
    assert store.get_run("shared").owner in {"a", "b", "c"}
    store.close()


def test_two_stores_in_one_process_see_each_others_writes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    one, two = SqlMetadataStore(url), SqlMetadataStore(url)
    now = datetime.now(timezone.utc)
    one.create_run(RunRecord("r", "p", "p", {}, {}, RunState.PENDING, now))
    two.update_run("r", state=RunState.RUNNING)
    assert one.get_run("r").state is RunState.RUNNING
    one.upsert_task(TaskRecord("r", "t", "t", TaskState.SUCCEEDED))
    assert [t.task_name for t in two.list_tasks("r")] == ["t"]
    one.close()
    two.close()


def test_errors_name_the_database_without_its_password() -> None:
    with pytest.raises(StoreError) as info:
        SqlMetadataStore("postgresql+nosuchdriver://ann:s3cret@localhost/pinnace")
    assert "s3cret" not in str(info.value)
    assert "ann:***@localhost" in str(info.value)


def test_a_url_that_is_not_a_database_url_is_refused() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        SqlMetadataStore("this is not a url")


def test_an_unopenable_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    folder = tmp_path / "is-a-folder.db"
    folder.mkdir()
    with pytest.raises(StoreError) as info:
        SqlMetadataStore(f"sqlite:///{folder}")
    assert str(folder) in str(info.value)
    assert info.value.hint


def test_a_database_from_a_newer_pinnace_is_refused_clearly(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SqlMetadataStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="upgrade pinnace"):
        SqlMetadataStore(url)


def test_foreign_keys_cascade_when_a_run_row_is_deleted(tmp_path: Path) -> None:
    # No delete method yet; the schema already guarantees a deleted run takes its rows along.
    url = sqlite_url(tmp_path)
    store = SqlMetadataStore(url)
    store.create_run(RunRecord("r", "p", "p", {}, {}, RunState.PENDING, datetime.now(timezone.utc)))
    store.upsert_task(TaskRecord("r", "t", "t", TaskState.PENDING))
    with store._writer.begin() as conn:
        conn.execute(sa.text("DELETE FROM runs WHERE run_id = 'r'"))
    assert store.list_tasks("r") == []
    store.close()


def test_a_batch_is_one_transaction_others_see_only_when_it_ends(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    one, two = SqlMetadataStore(url), SqlMetadataStore(url)
    now = datetime.now(timezone.utc)
    one.create_run(RunRecord("r", "p", "p", {}, {}, RunState.RUNNING, now))
    commits: list[object] = []
    sa.event.listen(one._engine, "commit", commits.append)
    with one.batch():
        one.upsert_task(TaskRecord("r", "a", "a", TaskState.RUNNING))
        one.upsert_task(TaskRecord("r", "a", "a", TaskState.SUCCEEDED))
        one.upsert_task(TaskRecord("r", "b", "b", TaskState.RUNNING))
        assert two.list_tasks("r") == []  # another connection: nothing committed yet
        assert commits == []
    assert len(commits) == 1
    assert [(t.task_name, t.state) for t in two.list_tasks("r")] == [
        ("a", TaskState.SUCCEEDED),
        ("b", TaskState.RUNNING),
    ]
    one.close()
    two.close()


def test_a_batch_commits_all_its_writes_or_none(tmp_path: Path) -> None:
    store = SqlMetadataStore(sqlite_url(tmp_path))
    now = datetime.now(timezone.utc)
    store.create_run(RunRecord("r", "p", "p", {}, {}, RunState.RUNNING, now))
    with pytest.raises(NotFoundError, match="no_such_run"), store.batch():
        store.upsert_task(TaskRecord("r", "a", "a", TaskState.RUNNING))
        store.upsert_task(TaskRecord("no_such_run", "a", "a", TaskState.RUNNING))
    assert store.list_tasks("r") == []
    store.close()


def test_batches_of_two_threads_are_kept_apart(tmp_path: Path) -> None:
    import threading

    url = sqlite_url(tmp_path)
    store, other = SqlMetadataStore(url), SqlMetadataStore(url)
    now = datetime.now(timezone.utc)
    store.create_run(RunRecord("r", "p", "p", {}, {}, RunState.RUNNING, now))
    seen: list[list[str]] = []

    def elsewhere() -> None:  # not in the batch: written at once
        store.upsert_task(TaskRecord("r", "thread", "thread", TaskState.RUNNING))
        seen.append([t.task_name for t in other.list_tasks("r")])

    with store.batch():
        store.upsert_task(TaskRecord("r", "batched", "batched", TaskState.RUNNING))
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(timeout=30)
    assert seen == [["thread"]]
    assert sorted(t.task_name for t in other.list_tasks("r")) == ["batched", "thread"]
    store.close()
    other.close()


def test_a_store_opened_after_another_closed_has_the_sqlite_settings(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    first = SqlMetadataStore(url)
    now = datetime.now(timezone.utc)
    first.create_run(RunRecord("r", "p", "p", {}, {}, RunState.PENDING, now))
    first.close()
    second = SqlMetadataStore(url)  # this process's engine of the file, used again
    with second._engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") >= 10_000
    second.upsert_task(TaskRecord("r", "t", "t", TaskState.RUNNING))  # BEGIN IMMEDIATE
    assert [t.task_name for t in second.list_tasks("r")] == ["t"]
    second.close()


def test_state_reads_and_writes_of_a_run_never_decode_its_spec(tmp_path: Path) -> None:
    # A 1,000-task run's spec takes ~0.05-0.1 s to decode: reads without it, and every write
    # of a run (the lease's heartbeat, the driver's state changes), must not touch it. A spec
    # that cannot be decoded proves it.
    url = sqlite_url(tmp_path)
    store = SqlMetadataStore(url)
    now = datetime.now(timezone.utc)
    store.create_run(RunRecord("r", "p", "p", {"a": 1}, {}, RunState.PENDING, now))
    with store._writer.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET spec = 'not json' WHERE run_id = 'r'"))
    with pytest.raises(ValueError):
        store.get_run("r")
    assert store.get_run("r", spec=False).state is RunState.PENDING
    assert [r.run_id for r in store.list_runs(spec=False)] == ["r"]
    assert store.update_run("r", state=RunState.RUNNING).state is RunState.RUNNING
    kept = store.update_record_if(RunRecord, "r", {"lease_owner": None}, lease_owner="me")
    assert kept is not None and kept.lease_owner == "me"
    assert store.update_record(RunRecord, "r", description="d").description == "d"
    store.close()
