"""The recurring-run scheduler: slot arithmetic (cron, periodic, catch-up) at chosen times,
max_concurrency, and firing each slot once across restarts and racing server processes."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from server_support import ADMIN_PASSWORD, live_server

from pinnace import dsl
from pinnace.compiler import compile_pipeline
from pinnace.model.state import RunState
from pinnace.server import ServerOptions, create_app
from pinnace.server.scheduler import due_slots, latest_slot, next_slot
from pinnace.settings import Settings
from pinnace.stores.base import ListQuery, Predicate, RecurringRunRecord, RunRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@dsl.component
def noop() -> int:
    return 1


@dsl.pipeline(name="tick")
def tick_pipeline():
    noop()


SPEC = compile_pipeline(tick_pipeline)


def schedule(**kw: object) -> RecurringRunRecord:
    values: dict = {"interval_seconds": 60, **kw}
    return RecurringRunRecord("rr", "nightly", T0, T0, spec=SPEC, **values)


def test_periodic_slots_follow_the_anchor_and_stop_at_the_end() -> None:
    record = schedule(end_time=T0 + timedelta(minutes=3))
    assert next_slot(record, None) == T0 + timedelta(minutes=1)
    assert next_slot(record, T0 + timedelta(minutes=1, seconds=30)) == T0 + timedelta(minutes=2)
    assert next_slot(record, T0 + timedelta(minutes=3)) is None
    later = T0 + timedelta(hours=1)
    assert due_slots(record, later) == [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
    started = schedule(start_time=T0 + timedelta(hours=2))
    assert due_slots(started, later) == []


def test_catch_up_fires_every_missed_slot_and_no_catchup_only_the_latest() -> None:
    record = schedule(last_scheduled_at=T0 + timedelta(minutes=1))
    now = T0 + timedelta(minutes=5, seconds=10)
    assert due_slots(record, now) == [T0 + timedelta(minutes=m) for m in (2, 3, 4, 5)]
    assert due_slots(record, now, limit=2) == [T0 + timedelta(minutes=m) for m in (2, 3)]
    record.no_catchup = True
    assert due_slots(record, now) == [T0 + timedelta(minutes=5)]
    record.last_scheduled_at = T0 + timedelta(minutes=5)
    assert due_slots(record, now) == []


def test_cron_slots_in_utc_with_catch_up() -> None:
    record = schedule(interval_seconds=None, cron="0 */6 * * *")  # 00, 06, 12, 18 h
    now = T0 + timedelta(days=1)  # 2024-05-02 12:00 exactly: that slot counts
    slots = due_slots(record, now)
    assert [s.hour for s in slots] == [18, 0, 6, 12] and slots[-1] == now
    record.no_catchup = True
    assert due_slots(record, now) == [now]
    assert latest_slot(record, now - timedelta(seconds=1)) == now - timedelta(hours=6)
    seconds = schedule(interval_seconds=None, cron="*/20 * * * * *")  # six fields: seconds
    assert due_slots(seconds, T0 + timedelta(minutes=1))[:2] == [
        T0 + timedelta(seconds=20),
        T0 + timedelta(seconds=40),
    ]


def _app(home: Path):
    settings = Settings.load(env={}, home=str(home), use_current_python=True, parallelism=2)
    options = ServerOptions(auth=False, scheduler_tick_seconds=0)
    return create_app(settings, options)


def _runs_of(store, recurring_run_id: str) -> list[RunRecord]:
    query = ListQuery(
        predicates=(Predicate("recurring_run_id", "eq", recurring_run_id),), limit=500
    )
    return store.query_records(RunRecord, query).records


def _insert(app, **kw: object) -> RecurringRunRecord:
    record = schedule(**kw)
    record.recurring_run_id = uuid.uuid4().hex
    app.state.ctx.backend.metadata.insert_record(record)
    return record


def test_tick_respects_max_concurrency_and_enable(tmp_path: Path) -> None:
    app = _app(tmp_path)
    ctx = app.state.ctx
    store = ctx.backend.metadata
    record = _insert(app, max_concurrency=2)
    now = T0 + timedelta(minutes=10)
    # Two runs of the schedule still active: no room, nothing fires, nothing is claimed.
    for slot in (1, 2):
        ctx.manager.create_run(SPEC, {})
    active = [r.run_id for r in store.query_records(RunRecord, ListQuery(limit=10)).records]
    for run_id in active:
        store.update_record(RunRecord, run_id, recurring_run_id=record.recurring_run_id,
                            state=RunState.RUNNING)  # fmt: skip
    assert ctx.scheduler.tick(now) == []
    assert store.get_record(RecurringRunRecord, record.recurring_run_id).last_scheduled_at is None
    # One finishes: exactly one slot (the oldest) fires.
    store.update_record(RunRecord, active[0], state=RunState.SUCCEEDED)
    started = ctx.scheduler.tick(now)
    assert len(started) == 1
    run = store.get_record(RunRecord, started[0])
    assert run.scheduled_at == T0 + timedelta(minutes=1)
    assert run.experiment_id is not None
    ctx.manager.wait(started[0], 60)
    # Disabled schedules do not fire.
    store.update_record(RecurringRunRecord, record.recurring_run_id, enabled=False)
    store.update_record(RunRecord, active[1], state=RunState.SUCCEEDED)
    assert ctx.scheduler.tick(now) == []
    ctx.manager.close()


def test_two_schedulers_racing_fire_each_slot_once(tmp_path: Path) -> None:
    first, second = _app(tmp_path), _app(tmp_path)
    record = _insert(first, max_concurrency=10, no_catchup=False)
    now = T0 + timedelta(minutes=6, seconds=30)
    barrier = threading.Barrier(2)
    fired: list[list[str]] = []

    def race(app) -> None:
        barrier.wait()
        fired.append(app.state.ctx.scheduler.tick(now))

    threads = [threading.Thread(target=race, args=(app,)) for app in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    runs = _runs_of(first.state.ctx.backend.metadata, record.recurring_run_id)
    slots = sorted(r.scheduled_at for r in runs)
    assert slots == [T0 + timedelta(minutes=m) for m in range(1, 7)]
    assert sum(len(f) for f in fired) == 6
    for app in (first, second):
        for run_id in [r for f in fired for r in f]:
            app.state.ctx.manager.wait(run_id, 60)
        app.state.ctx.manager.close()


def _create_periodic(url: str, token: str, **extra: object) -> str:
    body = {
        "display_name": "every-second",
        "pipeline_spec": SPEC,
        "trigger": {"periodic_schedule": {"interval_second": "1"}},
        "max_concurrency": "10",
        **extra,
    }
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(f"{url}/apis/v2beta1/recurringruns", json=body, headers=headers)
    response.raise_for_status()
    return response.json()["recurring_run_id"]


def _listed_runs(url: str, token: str, recurring_run_id: str) -> list[dict]:
    response = httpx.get(
        f"{url}/apis/v2beta1/runs",
        params={"page_size": 200, "filter": _eq("recurring_run_id", recurring_run_id)},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return response.json().get("runs", [])


def _poll_runs(url: str, token: str, key: str, at_least: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while True:
        runs = _listed_runs(url, token, key)
        if len(runs) >= at_least or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def _eq(key: str, value: str) -> str:
    import json

    return json.dumps({"predicates": [{"key": key, "operation": "EQUALS", "string_value": value}]})


def test_periodic_schedule_fires_across_a_restart_without_duplicates(tmp_path: Path) -> None:
    with live_server(tmp_path) as live:
        token = live.login()
        key = _create_periodic(live.url, token)
        before = _poll_runs(live.url, token, key, at_least=2)
    time.sleep(2.0)  # the server is down for two slots; catch-up fires them
    with live_server(tmp_path) as live:
        token = live.login("admin", ADMIN_PASSWORD)
        runs = _poll_runs(live.url, token, key, at_least=len(before) + 4)
        slots = sorted(r["scheduled_at"] for r in runs)
        assert len(slots) == len(set(slots)) >= len(before) + 4
        parsed = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in slots]
        gaps = {round((b - a).total_seconds()) for a, b in itertools.pairwise(parsed)}
        assert gaps == {1}  # every second once: none missed, none twice
        recurring = httpx.get(
            f"{live.url}/apis/v2beta1/recurringruns/{key}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert recurring["trigger"]["periodic_schedule"]["interval_second"] == "1"
        assert all(r["recurring_run_id"] == key for r in runs)
        httpx.post(
            f"{live.url}/apis/v2beta1/recurringruns/{key}:disable",
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
        for run in runs:
            live.app.state.ctx.manager.wait(run["run_id"], 60)
