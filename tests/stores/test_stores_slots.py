"""Compare-and-set on catalog records and the one-run-per-schedule-slot rule, for every
MetadataStore (the scheduler's durable claim), and the 0002 → 0003 migration."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pinnace.errors import StoreError
from pinnace.model.state import RunState
from pinnace.stores import open_metadata_store
from pinnace.stores.base import MetadataStore, RecurringRunRecord, RunRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    url = f"sqlite:///{tmp_path / 'p.db'}" if request.param == "sqlite" else "memory://"
    s = open_metadata_store(url)
    yield s
    s.close()


def schedule(key: str = "rr1") -> RecurringRunRecord:
    return RecurringRunRecord(key, "nightly", T0, T0, interval_seconds=60)


def run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, pipeline_name="demo", display_name=run_id, spec={},
                     parameters={}, state=RunState.PENDING, created_at=T0)  # fmt: skip


def test_update_if_sets_only_when_expected_values_hold(store: MetadataStore) -> None:
    store.insert_record(schedule())
    slot = T0 + timedelta(minutes=1)
    won = store.update_record_if(
        RecurringRunRecord, "rr1", {"last_scheduled_at": None}, last_scheduled_at=slot
    )
    assert won is not None and won.last_scheduled_at == slot
    lost = store.update_record_if(
        RecurringRunRecord, "rr1", {"last_scheduled_at": None}, last_scheduled_at=T0
    )
    assert lost is None
    assert store.get_record(RecurringRunRecord, "rr1").last_scheduled_at == slot


def test_racing_claims_of_one_slot_have_exactly_one_winner(store: MetadataStore) -> None:
    store.insert_record(schedule())
    winners: list[object] = []

    def claim() -> None:
        got = store.update_record_if(
            RecurringRunRecord, "rr1", {"last_scheduled_at": None}, last_scheduled_at=T0
        )
        if got is not None:
            winners.append(got)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_two_runs_cannot_share_a_schedule_slot(store: MetadataStore) -> None:
    for run_id in ("a", "b", "c"):
        store.insert_record(run(run_id))
    store.update_record(RunRecord, "a", recurring_run_id="rr1", scheduled_at=T0)
    with pytest.raises(StoreError, match="constraint"):
        store.update_record(RunRecord, "b", recurring_run_id="rr1", scheduled_at=T0)
    # Other slots, other schedules and plain runs (no slot) never collide.
    store.update_record(RunRecord, "b", recurring_run_id="rr1", scheduled_at=T0 + timedelta(1))
    store.update_record(RunRecord, "c", recurring_run_id="rr2", scheduled_at=T0)
    assert store.get_record(RunRecord, "a").scheduled_at == T0


def test_a_0002_database_upgrades_to_head(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from pinnace.stores import _database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(Path(_database.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    engine.dispose()
    store = open_metadata_store(url)
    store.insert_record(run("r1"))
    assert store.update_record(RunRecord, "r1", scheduled_at=T0).scheduled_at == T0
    store.close()
