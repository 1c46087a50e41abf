"""Namespace rules every service applies: what a caller may see and where new objects go."""

from __future__ import annotations

from typing import Any

from ...errors import NotFoundError
from ...stores.base import MetadataStore, RunRecord
from ..errors import PermissionDeniedError
from .accounts import Principal


def load_visible(
    store: MetadataStore, kind: type, key: str, principal: Principal, *, shared: bool = False
) -> Any:
    """The record, or NotFoundError when it is missing *or* in a namespace the caller does
    not see (404 either way, so existence never leaks). `shared`: namespace-less records
    are readable by everyone (pipelines uploaded without accounts)."""
    record = store.get_record(kind, key)
    if not can_see(principal, record.namespace, shared=shared):
        raise store_not_found(store, kind, key)
    return record


def load_visible_run(store: MetadataStore, run_id: str, principal: Principal) -> RunRecord:
    """`load_visible` for a run, without its spec (`MetadataStore.get_run(spec=False)`): for
    callers that check that the caller sees the run, or read its state."""
    try:
        run = store.get_run(run_id, spec=False)
    except NotFoundError:
        raise store_not_found(store, RunRecord, run_id) from None
    if not can_see(principal, run.namespace):
        raise store_not_found(store, RunRecord, run_id)
    return run


def load_writable(
    store: MetadataStore, kind: type, key: str, principal: Principal, *, shared: bool = False
) -> Any:
    """THE ownership check of every write (change, delete, add a version, start a run in):
    the record when the caller may change it; NotFoundError when they cannot even see it,
    PermissionDeniedError when they see it but it is not theirs (a shared object, which
    only an admin changes). Every write service goes through here (runs: through
    `load_writable_run`, which reads them without their spec); the route-walk test
    (tests/server/test_server_route_walk.py) checks each route with other users' tokens."""
    record = load_visible(store, kind, key, principal, shared=shared)
    check_writable(principal, record.namespace)
    return record


def load_writable_run(store: MetadataStore, run_id: str, principal: Principal) -> RunRecord:
    """`load_writable` for a run, without its spec (as `load_visible_run`)."""
    run = load_visible_run(store, run_id, principal)
    check_writable(principal, run.namespace)
    return run


def can_see(principal: Principal, namespace: str | None, *, shared: bool = False) -> bool:
    if principal.is_admin:
        return True
    return namespace == principal.namespace or (shared and namespace is None)


def check_writable(principal: Principal, namespace: str | None) -> None:
    """Shared (namespace-less) objects are changed by admins only."""
    if not principal.is_admin and namespace != principal.namespace:
        raise PermissionDeniedError("only an admin may change shared objects")


def store_not_found(store: MetadataStore, kind: type, key: str) -> NotFoundError:
    from ...stores import not_found

    return not_found(kind, key)


def owner_namespace(principal: Principal, requested: str | None) -> str | None:
    """The namespace a new object goes to: the caller's own; an admin may name another."""
    if requested and requested != principal.namespace:
        if not principal.is_admin:
            raise PermissionDeniedError(
                f"you may not create objects in namespace {requested!r}",
                hint="leave namespace empty to use your own",
            )
        return requested
    return principal.namespace


def visible_namespaces(
    principal: Principal, requested: str | None, *, shared: bool = False
) -> frozenset[str | None] | None:
    """The namespaces a list call covers: an admin sees all unless one is named."""
    if principal.is_admin:
        return frozenset({requested}) if requested else None
    if requested and requested != principal.namespace:
        raise PermissionDeniedError(f"you may not list namespace {requested!r}")
    return frozenset({principal.namespace, None}) if shared else frozenset({principal.namespace})
