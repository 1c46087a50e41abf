"""Experiments: create, read, list, delete, archive (with their runs) and unarchive."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from ...errors import UserInputError
from ...stores.base import (
    ExperimentRecord,
    ListQuery,
    MetadataStore,
    Page,
    Predicate,
    RecurringRunRecord,
    RunRecord,
)
from ..errors import ConflictError
from .accounts import Principal
from .common import load_visible, load_writable, owner_namespace

DEFAULT_EXPERIMENT = "Default"
ARCHIVED, AVAILABLE = "ARCHIVED", "AVAILABLE"


def _find(store: MetadataStore, name: str, namespace: str | None) -> ExperimentRecord | None:
    page = store.query_records(
        ExperimentRecord,
        ListQuery(
            predicates=(Predicate("name", "eq", name), Predicate("namespace", "eq", namespace)),
            limit=1,
        ),
    )
    return page.records[0] if page.records else None


def create_experiment(
    store: MetadataStore,
    principal: Principal,
    *,
    name: str,
    description: str = "",
    namespace: str | None = None,
) -> ExperimentRecord:
    if not name or not name.strip():
        raise UserInputError("an experiment needs a display_name")
    owner = owner_namespace(principal, namespace)
    if _find(store, name, owner) is not None:
        raise ConflictError(
            f"an experiment named {name!r} already exists",
            hint="pick another name, or use the existing experiment",
        )
    record = ExperimentRecord(
        experiment_id=uuid.uuid4().hex,
        name=name,
        created_at=datetime.now(timezone.utc),
        description=description,
        namespace=owner,
    )
    store.insert_record(record)
    return record


def default_experiment(store: MetadataStore, principal: Principal) -> ExperimentRecord:
    """The namespace's "Default" experiment, created on first use."""
    found = _find(store, DEFAULT_EXPERIMENT, principal.namespace)
    if found is not None:
        return found
    try:
        return create_experiment(store, principal, name=DEFAULT_EXPERIMENT)
    except ConflictError:  # created by a concurrent request
        return _find(store, DEFAULT_EXPERIMENT, principal.namespace)  # type: ignore[return-value]


def get_experiment(
    store: MetadataStore, principal: Principal, experiment_id: str
) -> ExperimentRecord:
    return load_visible(store, ExperimentRecord, experiment_id, principal)


def writable_experiment(
    store: MetadataStore, principal: Principal, experiment_id: str
) -> ExperimentRecord:
    """The experiment, when the caller may change it or start runs in it."""
    return load_writable(store, ExperimentRecord, experiment_id, principal)


def list_experiments(store: MetadataStore, query: ListQuery) -> Page:
    return store.query_records(ExperimentRecord, query)


def delete_experiment(store: MetadataStore, principal: Principal, experiment_id: str) -> None:
    writable_experiment(store, principal, experiment_id)
    store.delete_record(ExperimentRecord, experiment_id)


def set_storage_state(
    store: MetadataStore, principal: Principal, experiment_id: str, state: str
) -> None:
    """Archive or unarchive; archiving also archives the runs and disables recurring runs."""
    writable_experiment(store, principal, experiment_id)
    store.update_record(ExperimentRecord, experiment_id, storage_state=state)
    if state != ARCHIVED:
        return
    mine = (Predicate("experiment_id", "eq", experiment_id),)
    for kind, changes in (
        (RunRecord, {"storage_state": ARCHIVED}),
        (RecurringRunRecord, {"enabled": False}),
    ):
        offset = 0
        while True:
            page = store.query_records(kind, ListQuery(mine, limit=500, offset=offset))
            for record in page.records:
                key = record.run_id if kind is RunRecord else record.recurring_run_id
                store.update_record(kind, key, **changes)
            offset += len(page.records)
            if not page.records or offset >= page.total:
                break
