"""Contract tests of the catalog records (experiments, versions, users, tokens, recurring
runs, runs with server fields) for every MetadataStore, and the 0001 → 0002 migration."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from pinnace.errors import NotFoundError, StoreError, UserInputError
from pinnace.model.state import RunState, TaskState
from pinnace.stores import open_metadata_store
from pinnace.stores.base import (
    ApiTokenRecord,
    ExperimentRecord,
    ListQuery,
    MetadataStore,
    PipelineRecord,
    PipelineVersionRecord,
    Predicate,
    RecurringRunRecord,
    RunRecord,
    TaskRecord,
    UserRecord,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    url = f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite" else "memory://"
    s = open_metadata_store(url)
    yield s
    s.close()


def run(run_id: str, minutes: int = 0, **kw: object) -> RunRecord:
    return RunRecord(run_id=run_id, pipeline_name="demo", display_name=f"run {run_id}",
                     spec={"root": {}}, parameters={}, state=RunState.PENDING,
                     created_at=T0 + timedelta(minutes=minutes), **kw)  # fmt: skip


def test_experiment_insert_get_update_delete(store: MetadataStore) -> None:
    exp = ExperimentRecord("e1", "Default", T0, description="d", namespace="alice")
    store.insert_record(exp)
    assert store.get_record(ExperimentRecord, "e1") == exp
    updated = store.update_record(ExperimentRecord, "e1", storage_state="ARCHIVED")
    assert updated.storage_state == "ARCHIVED"
    assert store.get_record(ExperimentRecord, "e1").storage_state == "ARCHIVED"
    with pytest.raises(StoreError, match="already exists"):
        store.insert_record(exp)
    with pytest.raises(StoreError, match="cannot update"):
        store.update_record(ExperimentRecord, "e1", bogus=1)
    store.delete_record(ExperimentRecord, "e1")
    with pytest.raises(NotFoundError, match="experiment 'e1' not found"):
        store.get_record(ExperimentRecord, "e1")
    with pytest.raises(NotFoundError):
        store.delete_record(ExperimentRecord, "e1")


def test_versions_need_their_pipeline_and_go_with_it(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="pipeline 'p1'"):
        store.insert_record(PipelineVersionRecord("v0", "p1", "v0", {"a": 1}, T0))
    store.put_pipeline(PipelineRecord("p1", "pipe", "", {"a": 1}, T0, namespace="alice"))
    for i in range(3):
        store.insert_record(
            PipelineVersionRecord(f"v{i}", "p1", f"v{i}", {"i": i}, T0 + timedelta(seconds=i))
        )
    store.create_run(run("r1", pipeline_id="p1", pipeline_version_id="v1"))
    page = store.query_records(
        PipelineVersionRecord,
        ListQuery(predicates=(Predicate("pipeline_id", "eq", "p1"),), limit=2),
    )
    assert [v.pipeline_version_id for v in page.records] == ["v2", "v1"]
    assert page.total == 3
    assert page.records[0].spec == {"i": 2}
    store.delete_record(PipelineRecord, "p1")
    assert store.query_records(PipelineVersionRecord, ListQuery()).total == 0
    assert store.get_run("r1").pipeline_id is None  # the run stays, its link goes


def test_run_server_fields_round_trip_and_delete_cascades(store: MetadataStore) -> None:
    record = run("r1", experiment_id="e1", namespace="bob", description="x",
                 recurring_run_id="rr")  # fmt: skip
    store.insert_record(record)
    store.upsert_task(TaskRecord("r1", "a/b", "b", TaskState.PENDING))
    assert store.get_record(RunRecord, "r1") == record
    assert store.update_record(RunRecord, "r1", storage_state="ARCHIVED").storage_state == (
        "ARCHIVED"
    )
    store.delete_record(RunRecord, "r1")
    assert store.list_tasks("r1") == []
    with pytest.raises(NotFoundError):
        store.get_run("r1")


def test_query_filters_sorts_pages_and_scopes_namespaces(store: MetadataStore) -> None:
    for i in range(10):
        store.create_run(run(f"r{i}", i, experiment_id="e1" if i % 2 else "e2",
                             namespace="alice" if i < 5 else "bob"))  # fmt: skip
    q = ListQuery(predicates=(Predicate("experiment_id", "eq", "e1"),), limit=2, offset=1)
    page = store.query_records(RunRecord, q)
    assert [r.run_id for r in page.records] == ["r7", "r5"] and page.total == 5
    asc = store.query_records(RunRecord, ListQuery(sort_by="display_name", descending=False))
    assert [r.run_id for r in asc.records][:2] == ["r0", "r1"]
    scoped = store.query_records(RunRecord, ListQuery(namespaces=frozenset({"alice"})))
    assert {r.run_id for r in scoped.records} == {f"r{i}" for i in range(5)}
    sub = store.query_records(
        RunRecord, ListQuery(predicates=(Predicate("display_name", "substring", "RUN R3"),))
    )
    assert [r.run_id for r in sub.records] == ["r3"]
    since = T0 + timedelta(minutes=8)
    newer = store.query_records(
        RunRecord, ListQuery(predicates=(Predicate("created_at", "ge", since),))
    )
    assert [r.run_id for r in newer.records] == ["r9", "r8"]
    inq = store.query_records(
        RunRecord, ListQuery(predicates=(Predicate("run_id", "in", ["r1", "r2", "zz"]),))
    )
    assert inq.total == 2


@pytest.mark.parametrize(
    "query",
    [
        ListQuery(sort_by="created_at; DROP TABLE runs"),
        ListQuery(predicates=(Predicate("spec", "eq", "x"),)),
        ListQuery(predicates=(Predicate("name' OR 1=1--", "eq", "x"),)),
        ListQuery(predicates=(Predicate("run_id", "LIKE", "%"),)),
    ],
)
def test_unknown_fields_and_operations_are_refused(store: MetadataStore, query) -> None:
    with pytest.raises(UserInputError):
        store.query_records(RunRecord, query)


def test_substring_values_are_literal_not_patterns(store: MetadataStore) -> None:
    store.create_run(run("r1"))
    for pattern in ("%", "_", "' OR 1=1 --"):
        q = ListQuery(predicates=(Predicate("display_name", "substring", pattern),))
        assert store.query_records(RunRecord, q).total == 0


def test_users_tokens_and_recurring_runs(store: MetadataStore) -> None:
    store.insert_record(UserRecord("alice", "scrypt$x", T0, namespace="alice"))
    with pytest.raises(NotFoundError, match="user 'nobody'"):
        store.insert_record(ApiTokenRecord("t0", "h0", "nobody", T0))
    token = ApiTokenRecord("t1", "h1", "alice", T0, expires_at=T0 + timedelta(days=1))
    store.insert_record(token)
    found = store.query_records(ApiTokenRecord, ListQuery(predicates=(
        Predicate("token_hash", "eq", "h1"),)))  # fmt: skip
    assert found.records == [token]
    store.update_record(ApiTokenRecord, "t1", last_used_at=T0 + timedelta(hours=1))
    store.delete_record(UserRecord, "alice")
    assert store.query_records(ApiTokenRecord, ListQuery()).total == 0
    rr = RecurringRunRecord("rr1", "nightly", T0, T0, cron="0 0 * * *", parameters={"n": 1},
                            spec={"root": {}}, max_concurrency=2, no_catchup=True)  # fmt: skip
    store.insert_record(rr)
    assert store.get_record(RecurringRunRecord, "rr1") == rr
    assert not store.update_record(RecurringRunRecord, "rr1", enabled=False).enabled


def test_listing_a_page_of_many_runs_filters_and_counts(tmp_path: Path) -> None:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'p.db'}")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    rows = [dict(run_id=f"r{i:05d}", pipeline_name="p", display_name=f"r{i}", spec={},
                 parameters={}, state="SUCCEEDED", created_at=T0.replace(tzinfo=None)
                 + timedelta(seconds=i), outputs={}, cache_enabled=True, description="",
                 experiment_id=f"e{i % 10}", namespace="alice", storage_state="AVAILABLE")
            for i in range(10_000)]  # fmt: skip
    from pinnace.stores._tables import runs

    with engine.begin() as conn:
        conn.execute(runs.insert(), rows)
    engine.dispose()
    page = store.query_records(RunRecord, ListQuery(
        predicates=(Predicate("experiment_id", "eq", "e3"),), limit=200, offset=800,
        namespaces=frozenset({"alice"})))  # fmt: skip
    store.close()
    assert page.total == 1000 and len(page.records) == 200
    assert {r.experiment_id for r in page.records} == {"e3"}
    assert len({r.run_id for r in page.records}) == 200


def test_a_0001_database_with_runs_upgrades_keeping_them(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).parents[2] / "src/pinnace/stores/migrations")
    )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(sa.text(
            "INSERT INTO runs (run_id, pipeline_name, display_name, spec, parameters, state, "
            "created_at, outputs, cache_enabled) VALUES ('old', 'p', 'd', '{}', '{}', "
            "'SUCCEEDED', '2024-01-01 00:00:00', '{}', 1)"))  # fmt: skip
    engine.dispose()
    store = open_metadata_store(url)
    old = store.get_run("old")
    store.close()
    assert old.storage_state == "AVAILABLE" and old.namespace is None and old.description == ""
