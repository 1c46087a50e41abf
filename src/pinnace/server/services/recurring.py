"""Recurring runs (schedules): create, read, list, enable, disable, delete. The scheduler
that starts their runs is separate; it reads these records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ...errors import UserInputError
from ...stores.base import ListQuery, MetadataStore, Page, RecurringRunRecord
from ..context import ServerContext
from ..wire import parse_timestamp
from .accounts import Principal
from .common import load_visible, load_writable
from .experiments import default_experiment, writable_experiment
from .runs import resolve_spec

MIN_INTERVAL_SECONDS = 1
MAX_CONCURRENCY = 10


def _trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
    cron = trigger.get("cron_schedule")
    periodic = trigger.get("periodic_schedule")
    if bool(cron) == bool(periodic):
        raise UserInputError("trigger needs exactly one of cron_schedule or periodic_schedule")
    schedule = cron or periodic
    assert schedule is not None  # exactly one of them is set (checked above)
    values: dict[str, Any] = {
        "start_time": _time(schedule.get("start_time"), "start_time"),
        "end_time": _time(schedule.get("end_time"), "end_time"),
    }
    if cron:
        values["cron"] = _check_cron(str(cron.get("cron") or ""))
    else:
        assert periodic is not None  # cron is not set, so periodic is
        try:
            seconds = int(periodic.get("interval_second") or 0)
        except (TypeError, ValueError):
            raise UserInputError("interval_second must be a whole number of seconds") from None
        if seconds < MIN_INTERVAL_SECONDS:
            raise UserInputError(f"interval_second must be at least {MIN_INTERVAL_SECONDS}")
        values["interval_seconds"] = seconds
    return values


def _time(value: Any, field: str) -> datetime | None:
    return parse_timestamp(value, field) if value else None


def _check_cron(expression: str) -> str:
    from croniter import croniter

    if not expression or not croniter.is_valid(expression, second_at_beginning=True):
        raise UserInputError(
            f"invalid cron expression {expression!r}",
            hint="e.g. '0 0 * * *' (five fields) or with seconds first (six, as KFP)",
        )
    return expression


def create_recurring_run(
    ctx: ServerContext, principal: Principal, body: Mapping[str, Any]
) -> RecurringRunRecord:
    store = ctx.backend.metadata
    spec, version = resolve_spec(
        ctx,
        principal,
        pipeline_spec=body.get("pipeline_spec"),
        version_ref=body.get("pipeline_version_reference"),
        pipeline_version_id=body.get("pipeline_version_id"),
    )
    experiment_id = body.get("experiment_id")
    experiment = (
        writable_experiment(store, principal, experiment_id)
        if experiment_id
        else default_experiment(store, principal)
    )
    try:
        concurrency = int(body.get("max_concurrency") or 1)
    except (TypeError, ValueError):
        raise UserInputError("max_concurrency must be a whole number") from None
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UserInputError(f"max_concurrency must be 1-{MAX_CONCURRENCY}")
    now = datetime.now(timezone.utc)
    record = RecurringRunRecord(
        recurring_run_id=uuid.uuid4().hex,
        name=str(body.get("display_name") or ""),
        created_at=now,
        updated_at=now,
        description=str(body.get("description") or ""),
        experiment_id=experiment.experiment_id,
        namespace=experiment.namespace,
        pipeline_id=version.pipeline_id if version else None,
        pipeline_version_id=version.pipeline_version_id if version else None,
        spec={} if version else spec,
        parameters=dict((body.get("runtime_config") or {}).get("parameters") or {}),
        max_concurrency=concurrency,
        no_catchup=bool(body.get("no_catchup")),
        enabled=body.get("mode", "ENABLE") != "DISABLE",
        **_trigger(body.get("trigger") or {}),
    )
    if not record.name:
        raise UserInputError("a recurring run needs a display_name")
    store.insert_record(record)
    return record


def get_recurring_run(store: MetadataStore, principal: Principal, key: str) -> RecurringRunRecord:
    return load_visible(store, RecurringRunRecord, key, principal)


def list_recurring_runs(store: MetadataStore, query: ListQuery) -> Page:
    return store.query_records(RecurringRunRecord, query)


def set_enabled(store: MetadataStore, principal: Principal, key: str, enabled: bool) -> None:
    load_writable(store, RecurringRunRecord, key, principal)
    store.update_record(
        RecurringRunRecord, key, enabled=enabled, updated_at=datetime.now(timezone.utc)
    )


def delete_recurring_run(store: MetadataStore, principal: Principal, key: str) -> None:
    load_writable(store, RecurringRunRecord, key, principal)
    store.delete_record(RecurringRunRecord, key)
