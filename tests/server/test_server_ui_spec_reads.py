"""The dashboard's polled reads of a run decode its pipeline spec once (services/ui.py,
services/ui_events.py): a 1,000-task run's spec takes tens of milliseconds to decode."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from pinnace.errors import NotFoundError
from pinnace.model.state import RunState, TaskState
from pinnace.server.services import ui, ui_events
from pinnace.server.services.accounts import Principal
from pinnace.stores.base import RunRecord, TaskRecord
from pinnace.stores.sql import SqlMetadataStore

SPEC = {
    "pipelineInfo": {"name": "p"},
    "root": {"dag": {"tasks": {"a": {"taskInfo": {"name": "a"}, "componentRef": {"name": "c"}}}}},
    "components": {"c": {"executorLabel": "e"}},
    "deploymentSpec": {"executors": {"e": {"container": {"image": "python"}}}},
}
ALICE = Principal(name="alice", namespace="alice", is_admin=False)
BOB = Principal(name="bob", namespace="bob", is_admin=False)


@pytest.fixture
def ctx(tmp_path: Path) -> Any:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'pinnace.db'}")
    now = datetime.now(timezone.utc)
    store.create_run(RunRecord("r", "p", "p", SPEC, {}, RunState.PENDING, now, namespace="alice"))
    store.upsert_task(TaskRecord("r", "a", "a", TaskState.PENDING))
    yield SimpleNamespace(backend=SimpleNamespace(metadata=store), caches={})
    store.close()


def _spoil_spec(store: SqlMetadataStore) -> None:
    """Make the stored spec undecodable: a read that decodes it again fails."""
    with store._writer.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET spec = 'not json' WHERE run_id = 'r'"))


def test_the_run_graph_decodes_the_spec_once_and_still_checks_who_asks(ctx: Any) -> None:
    first = ui.run_graph(ctx, ALICE, "r")
    _spoil_spec(ctx.backend.metadata)
    ctx.backend.metadata.update_run("r", state=RunState.RUNNING)
    again = ui.run_graph(ctx, ALICE, "r")
    assert [n["id"] for n in again["nodes"]] == [n["id"] for n in first["nodes"]]
    assert (first["state"], again["state"]) == ("PENDING", "RUNNING")
    with pytest.raises(NotFoundError):
        ui.run_graph(ctx, BOB, "r")


def test_the_run_event_stream_decodes_the_spec_once(ctx: Any) -> None:
    async def events() -> list[str]:
        found = []
        async for event in ui_events.run_events(ctx, ALICE, "r", gone, poll_seconds=0.01):
            found.append(event)
            if len(found) == 2:  # the first snapshot read: now spoil the spec and end the run
                _spoil_spec(ctx.backend.metadata)
                ctx.backend.metadata.update_run("r", state=RunState.CANCELED)
        return found

    async def gone() -> bool:
        return False

    sent = asyncio.run(events())
    assert sent[0].startswith("event: run") and '"PENDING"' in sent[0]
    assert sent[-1].startswith("event: end") and "CANCELED" in sent[-1]
