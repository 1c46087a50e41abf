"""Run leases on both metadata stores: taken once, renewed, lost, expired, settled, adopted."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pinnace.engine.lease import CLI, SERVER, LeaseKeeper, give_up, lease_live, try_acquire
from pinnace.engine.owners import current_owner
from pinnace.engine.settle import orphaned, settle_orphaned_runs
from pinnace.model.state import RunState, TaskState
from pinnace.stores import open_metadata_store
from pinnace.stores.base import ExecutionRecord, MetadataStore, RunRecord, TaskRecord

NOW = datetime.now(timezone.utc)
ME = current_owner()
#: a process of this machine that does not exist (pid far beyond pid_max)
DEAD = f"{ME.split(':')[0]}:99999999:1"
#: a process of another machine: always presumed alive
ELSEWHERE = "some-other-host:1234:5678"


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    url = f"sqlite:///{tmp_path / 'pinnace.db'}" if request.param == "sqlite" else "memory://"
    s = open_metadata_store(url)
    yield s
    s.close()


def make_run(store: MetadataStore, state: RunState = RunState.RUNNING, **lease: object) -> str:
    run_id = uuid.uuid4().hex
    store.create_run(
        RunRecord(
            run_id=run_id,
            pipeline_name="p",
            display_name="p",
            spec={"pipelineInfo": {"name": "p"}, "root": {"dag": {"tasks": {}}}},
            parameters={},
            state=RunState.PENDING,
            created_at=NOW,
        )
    )
    if state is not RunState.PENDING:
        store.update_run(run_id, state=state)
    if lease:
        store.update_record(RunRecord, run_id, **lease)
    return run_id


def test_a_lease_is_held_by_one_owner_until_it_expires(store):
    run_id = make_run(store)
    taken = try_acquire(store, run_id, ELSEWHERE, SERVER, 15)
    assert taken is not None and taken.lease_owner == ELSEWHERE and lease_live(taken)
    assert try_acquire(store, run_id, ME, CLI, 15) is None  # live, and its holder may live
    assert try_acquire(store, run_id, ELSEWHERE, SERVER, 15) is not None  # its own: renewed
    later = datetime.now(timezone.utc) + timedelta(seconds=60)
    adopted = try_acquire(store, run_id, ME, SERVER, 15, now=later)
    assert adopted is not None and adopted.lease_owner == ME


def test_a_dead_holder_on_this_machine_is_not_waited_for(store):
    run_id = make_run(store, lease_owner=DEAD, lease_kind=CLI, lease_expires_at=NOW + timedelta(1))
    assert orphaned(store.get_run(run_id))
    assert try_acquire(store, run_id, ME, CLI, 15) is not None


def test_the_keeper_renews_and_notices_a_lost_lease(store):
    lost = []
    keeper = LeaseKeeper(store, kind=SERVER, seconds=60)
    try:
        run_id = make_run(store)
        assert keeper.acquire(run_id, on_lost=lambda: lost.append(run_id))
        first = store.get_run(run_id).lease_expires_at
        assert keeper.renew() == []
        assert store.get_run(run_id).lease_expires_at >= first
        # Another process takes the run over (as after a long stall of this one).
        store.update_record(RunRecord, run_id, lease_owner=ELSEWHERE)
        assert keeper.renew() == [run_id]
        assert lost == [run_id] and keeper.lost(run_id) and not keeper.holds(run_id)
        keeper.release(run_id)  # not ours any more: left alone
        assert store.get_run(run_id).lease_owner == ELSEWHERE
    finally:
        keeper.close()


def test_two_servers_never_both_hold_a_run(store):
    first = LeaseKeeper(store, kind=SERVER, owner=ELSEWHERE, seconds=60)
    second = LeaseKeeper(store, kind=SERVER, seconds=60)
    try:
        run_id = make_run(store)
        assert first.acquire(run_id)
        assert not second.acquire(run_id)
    finally:
        first.close()
        second.close()


def test_releasing_lets_the_lease_expire_now_and_keeps_its_kind(store):
    run_id = make_run(store)
    try_acquire(store, run_id, ME, SERVER, 60)
    assert give_up(store, run_id, ME)
    run = store.get_run(run_id)
    assert not lease_live(run) and run.lease_kind == SERVER and orphaned(run)


def test_settling_takes_cli_runs_and_leaves_server_runs_and_live_leases(store):
    expired = NOW - timedelta(seconds=1)
    cli_run = make_run(store, lease_owner=ELSEWHERE, lease_kind=CLI, lease_expires_at=expired)
    server_run = make_run(store, lease_owner=ELSEWHERE, lease_kind=SERVER, lease_expires_at=expired)
    live_run = make_run(
        store, lease_owner=ELSEWHERE, lease_kind=CLI, lease_expires_at=NOW + timedelta(1)
    )
    store.upsert_task(TaskRecord(cli_run, "train", "train", TaskState.PENDING))
    store.upsert_task(TaskRecord(cli_run, "train", "train", TaskState.RUNNING))
    store.add_execution(ExecutionRecord("e1", cli_run, "train", 1, TaskState.RUNNING, NOW))
    killed = []
    settled = settle_orphaned_runs(store, kill_leftover=lambda p: killed.append(p) or 1)
    assert settled == [cli_run]
    run = store.get_run(cli_run)
    assert run.state is RunState.FAILED and "exited before the run finished" in run.error
    assert store.list_tasks(cli_run)[0].state is TaskState.FAILED
    assert store.list_executions(cli_run)[0].error.startswith("interrupted: ")
    assert killed == []  # the execution recorded no process
    assert store.get_run(server_run).state is RunState.RUNNING  # a server adopts it
    assert store.get_run(live_run).state is RunState.RUNNING
