"""The recurring-run scheduler: turns cron and periodic slots into runs, each slot once.

Each slot is claimed durably before its run starts: a compare-and-set moves the recurring
run's `last_scheduled_at` bookmark from the value this scheduler read to the slot, in one
store transaction, so two server processes (or one restarted) never start a slot twice;
the run then carries the slot in `scheduled_at`, which the store keeps unique per recurring
run. A process that dies between the claim and the run's creation loses that one slot
(at most once, never twice).

Slots follow KFP: periodic slots are `anchor + k * interval` (k >= 1, anchor = start time or
creation time); cron slots are the cron's times after the anchor, in UTC. `no_catchup` fires
only the latest missed slot after downtime; otherwise every missed slot fires, oldest first,
never more than `max_concurrency` runs of the schedule active at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..errors import PinnaceError
from ..model.state import RunState
from ..stores.base import ListQuery, PipelineVersionRecord, Predicate, RecurringRunRecord, RunRecord
from .services.accounts import Principal

if TYPE_CHECKING:
    from .context import ServerContext

_LOG = logging.getLogger("pinnace.server.scheduler")
_ACTIVE = [RunState.PENDING.value, RunState.RUNNING.value, RunState.CANCELING.value]
#: slots one schedule may fire in one tick (catch-up after long downtime spreads out)
MAX_SLOTS_PER_TICK = 100

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _anchor(record: RecurringRunRecord) -> datetime:
    return record.start_time or record.created_at


def _cron(expression: str, base: datetime) -> Any:
    from croniter import croniter

    # KFP (robfig/cron) puts the seconds field first in six-field expressions.
    return croniter(expression, base, second_at_beginning=True)


def next_slot(record: RecurringRunRecord, after: datetime | None) -> datetime | None:
    """The first slot strictly after `after` (after the anchor when None); None past the end."""
    anchor = _anchor(record)
    base = anchor if after is None or after < anchor else after
    if record.cron:
        slot = _cron(record.cron, base).get_next(datetime)
    else:
        interval = timedelta(seconds=record.interval_seconds or 1)
        steps = (base - anchor) // interval + 1
        slot = anchor + steps * interval
    if record.end_time is not None and slot > record.end_time:
        return None
    return slot


def latest_slot(record: RecurringRunRecord, now: datetime) -> datetime | None:
    """The last slot at or before `now` (and before the end time), None when there is none."""
    until = min(now, record.end_time) if record.end_time else now
    anchor = _anchor(record)
    if until <= anchor:
        return None
    if record.cron:
        # get_prev is strict: step past `until` so a slot exactly at `until` counts.
        slot = _cron(record.cron, until + timedelta(seconds=1)).get_prev(datetime)
        if slot > until:
            slot = _cron(record.cron, slot).get_prev(datetime)
        return slot if slot > anchor else None
    interval = timedelta(seconds=record.interval_seconds or 1)
    steps = (until - anchor) // interval
    return anchor + steps * interval if steps >= 1 else None


def due_slots(
    record: RecurringRunRecord, now: datetime, limit: int = MAX_SLOTS_PER_TICK
) -> list[datetime]:
    """The slots to fire at `now`, oldest first, at most `limit`."""
    if limit <= 0:
        return []
    last = record.last_scheduled_at
    if record.no_catchup:
        slot = latest_slot(record, now)
        return [slot] if slot is not None and (last is None or slot > last) else []
    slots: list[datetime] = []
    slot = next_slot(record, last)
    while slot is not None and slot <= now and len(slots) < limit:
        slots.append(slot)
        slot = next_slot(record, slot)
    return slots


class Scheduler:
    """Fires due slots of enabled recurring runs every `tick_seconds` in a daemon thread.

    `clock` is injectable so tests can call `tick()` at chosen times.
    """

    def __init__(
        self, ctx: ServerContext, *, clock: Clock = utc_now, tick_seconds: float = 1.0
    ) -> None:
        self._ctx = ctx
        self._clock = clock
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.tick_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="pinnace-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:  # one bad tick must not end scheduling for good
                _LOG.exception("scheduler tick failed")

    def tick(self, now: datetime | None = None) -> list[str]:
        """Fire every due slot at `now` (default: the clock); the ids of the runs started."""
        now = now or self._clock()
        store = self._ctx.backend.metadata
        query = ListQuery(predicates=(Predicate("enabled", "eq", True),), limit=1000)
        started: list[str] = []
        for record in store.query_records(RecurringRunRecord, query).records:
            try:
                started += self._fire(record, now)
            except PinnaceError as exc:
                _LOG.warning("recurring run %s: %s", record.recurring_run_id, exc)
        return started

    def active_runs(self, recurring_run_id: str) -> int:
        predicates = (
            Predicate("recurring_run_id", "eq", recurring_run_id),
            Predicate("state", "in", _ACTIVE),
        )
        page = self._ctx.backend.metadata.query_records(
            RunRecord, ListQuery(predicates=predicates, limit=0)
        )
        return page.total

    def _fire(self, record: RecurringRunRecord, now: datetime) -> list[str]:
        store = self._ctx.backend.metadata
        room = record.max_concurrency - self.active_runs(record.recurring_run_id)
        started = []
        for slot in due_slots(record, now, min(room, MAX_SLOTS_PER_TICK)):
            claimed = store.update_record_if(
                RecurringRunRecord,
                record.recurring_run_id,
                {"last_scheduled_at": record.last_scheduled_at, "enabled": True},
                last_scheduled_at=slot,
            )
            if claimed is None:
                break  # another scheduler moved the bookmark, or it was disabled: next tick
            record = claimed
            started.append(self._start_run(record, slot))
        return started

    def _start_run(self, record: RecurringRunRecord, slot: datetime) -> str:
        from .services.runs import create_run

        store = self._ctx.backend.metadata
        version = (
            store.get_record(PipelineVersionRecord, record.pipeline_version_id)
            if record.pipeline_version_id
            else None
        )
        # The schedule acts for its owner's namespace; admin rights only to read its objects.
        principal = Principal(name="scheduler", namespace=record.namespace, is_admin=True)
        run = create_run(
            self._ctx,
            principal,
            display_name=f"{record.name} {slot.strftime('%Y-%m-%d %H:%M:%S')}",
            experiment_id=record.experiment_id,
            spec=version.spec if version else record.spec,
            version=version,
            parameters=record.parameters,
            recurring_run_id=record.recurring_run_id,
            scheduled_at=slot,
        )
        _LOG.info("recurring run %s: slot %s started run %s", record.name, slot, run.run_id)
        return run.run_id
