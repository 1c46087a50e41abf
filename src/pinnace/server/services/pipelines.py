"""Pipelines and their versions: upload (YAML, JSON, zip, tar.gz), create, read, list, delete."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from ...errors import UserInputError
from ...spec.load import load_spec
from ...stores.base import (
    ListQuery,
    MetadataStore,
    Page,
    PipelineRecord,
    PipelineVersionRecord,
    Predicate,
)
from ..errors import ConflictError
from .accounts import Principal
from .common import load_visible, load_writable, owner_namespace, store_not_found
from .packages import read_pipeline_package as read_pipeline_package  # ui_runs reads it here


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _spec_name(spec: dict[str, Any]) -> str:
    return str((spec.get("pipelineInfo") or {}).get("name") or "")


def create_pipeline(
    store: MetadataStore,
    principal: Principal,
    *,
    name: str,
    display_name: str = "",
    description: str = "",
    namespace: str | None = None,
    spec: dict[str, Any] | None = None,
) -> PipelineRecord:
    if not name:
        raise UserInputError("a pipeline needs a name", hint="pass name or display_name")
    target = owner_namespace(principal, namespace)
    if _named(store, name, target) is not None:
        raise ConflictError(
            f"a pipeline named {name!r} already exists", hint="upload a new version of it instead"
        )
    record = PipelineRecord(
        pipeline_id=uuid.uuid4().hex,
        name=name,
        description=description,
        spec=spec or {},
        created_at=_now(),
        display_name=display_name or name,
        namespace=target,
    )
    store.insert_record(record)
    return record


def upload_pipeline(
    store: MetadataStore,
    principal: Principal,
    *,
    filename: str,
    data: bytes,
    max_bytes: int,
    name: str | None = None,
    display_name: str | None = None,
    description: str = "",
    namespace: str | None = None,
) -> tuple[PipelineRecord, PipelineVersionRecord]:
    """Create a pipeline and its first version (same name) from an uploaded file."""
    spec = read_pipeline_package(filename, data, max_bytes)
    name = name or display_name or PurePosixPath(filename).stem or _spec_name(spec)
    return create_pipeline_and_version(
        store,
        principal,
        name=name,
        display_name=display_name or name,
        description=description,
        namespace=namespace,
        spec=spec,
    )


def upload_version(
    store: MetadataStore,
    principal: Principal,
    *,
    pipeline_id: str,
    filename: str,
    data: bytes,
    max_bytes: int,
    name: str | None = None,
    display_name: str | None = None,
    description: str = "",
    code_source_url: str = "",
) -> PipelineVersionRecord:
    if not pipeline_id:
        raise UserInputError("pipelineid is required", hint="pass ?pipelineid=<pipeline id>")
    pipeline = writable_pipeline(store, principal, pipeline_id)
    spec = read_pipeline_package(filename, data, max_bytes)
    name = name or display_name or PurePosixPath(filename).stem or _spec_name(spec)
    return add_version(
        store,
        pipeline,
        name=name,
        display_name=display_name or name,
        description=description,
        spec=spec,
        code_source_url=code_source_url,
    )


def version_spec(
    pipeline_spec: Any,
    package_url: str | None,
    *,
    max_bytes: int,
    extra_domains: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The spec of a version created by JSON: `pipeline_spec` inline, else downloaded from
    `package_url` under the rules of `package_url.fetch_package` (https, allowlisted public
    hosts, no redirects)."""
    if pipeline_spec is not None:
        return load_spec(pipeline_spec, path_hint="pipeline_spec").pipeline_spec
    if not package_url:
        raise UserInputError(
            "a pipeline version needs package_url.pipeline_url or pipeline_spec",
            hint="or upload the file with /apis/v2beta1/pipelines/upload(_version)",
        )
    from .package_url import DEFAULT_DOMAINS, fetch_package

    filename, data = fetch_package(
        package_url, max_bytes=max_bytes, domains=DEFAULT_DOMAINS + extra_domains
    )
    return read_pipeline_package(filename, data, max_bytes)


def refuse_tags(tags: Any) -> None:
    if tags:
        raise UserInputError(
            "pipeline tags are not supported by this server", hint="leave tags empty"
        )


def create_version(
    store: MetadataStore,
    principal: Principal,
    pipeline_id: str,
    *,
    name: str,
    spec: dict[str, Any],
    display_name: str = "",
    description: str = "",
    code_source_url: str = "",
) -> PipelineVersionRecord:
    pipeline = writable_pipeline(store, principal, pipeline_id)
    if not name:
        raise UserInputError("a pipeline version needs a name", hint="pass name or display_name")
    return add_version(
        store,
        pipeline,
        name=name,
        spec=spec,
        display_name=display_name,
        description=description,
        code_source_url=code_source_url,
    )


def add_version(
    store: MetadataStore,
    pipeline: PipelineRecord,
    *,
    name: str,
    spec: dict[str, Any],
    display_name: str = "",
    description: str = "",
    code_source_url: str = "",
) -> PipelineVersionRecord:
    taken = store.query_records(
        PipelineVersionRecord,
        ListQuery(
            predicates=(
                Predicate("pipeline_id", "eq", pipeline.pipeline_id),
                Predicate("name", "eq", name),
            ),
            limit=1,
        ),
    ).total
    if taken:
        raise ConflictError(
            f"pipeline {pipeline.name!r} already has a version named {name!r}",
            hint="pick another version name",
        )
    version = PipelineVersionRecord(
        pipeline_version_id=uuid.uuid4().hex,
        pipeline_id=pipeline.pipeline_id,
        name=name,
        spec=spec,
        created_at=_now(),
        display_name=display_name or name,
        description=description,
        code_source_url=code_source_url,
    )
    store.insert_record(version)
    store.update_record(PipelineRecord, pipeline.pipeline_id, spec=spec)
    return version


def get_pipeline(store: MetadataStore, principal: Principal, pipeline_id: str) -> PipelineRecord:
    return load_visible(store, PipelineRecord, pipeline_id, principal, shared=True)


def writable_pipeline(
    store: MetadataStore, principal: Principal, pipeline_id: str
) -> PipelineRecord:
    """The pipeline, when the caller may change it (add or delete versions, delete it)."""
    return load_writable(store, PipelineRecord, pipeline_id, principal, shared=True)


def _named(store: MetadataStore, name: str, namespace: str | None) -> PipelineRecord | None:
    query = ListQuery(predicates=(Predicate("name", "eq", name),), limit=1000)
    for record in store.query_records(PipelineRecord, query).records:
        if record.namespace == namespace:
            return record  # type: ignore[no-any-return]
    return None


def get_pipeline_by_name(
    store: MetadataStore, principal: Principal, name: str, namespace: str | None = None
) -> PipelineRecord:
    """The pipeline `name` in the caller's namespace (or `namespace`, which only an admin
    may name), else the shared one of that name; never another user's (404, as if absent)."""
    own = owner_namespace(principal, namespace)
    record = (_named(store, name, own) if own is not None else None) or _named(store, name, None)
    if record is None:
        raise store_not_found(store, PipelineRecord, name)
    return get_pipeline(store, principal, record.pipeline_id)


def delete_pipeline(
    store: MetadataStore, principal: Principal, pipeline_id: str, *, cascade: bool = False
) -> None:
    """Delete a pipeline; one with versions only with `cascade` (KFP refuses otherwise)."""
    writable_pipeline(store, principal, pipeline_id)
    if not cascade:
        versions = store.query_records(
            PipelineVersionRecord,
            ListQuery(predicates=(Predicate("pipeline_id", "eq", pipeline_id),), limit=1),
        )
        if versions.records:
            raise UserInputError(
                f"pipeline {pipeline_id!r} has {versions.total} version(s), e.g. "
                f"{versions.records[0].pipeline_version_id!r}",
                hint="delete its versions first, or pass cascade=true to delete them with it",
            )
    store.delete_record(PipelineRecord, pipeline_id)  # its versions go with it


def update_pipeline(
    store: MetadataStore, principal: Principal, pipeline_id: str, *, display_name: str
) -> PipelineRecord:
    """Rename a pipeline for display (its `name`, the key uploads use, stays)."""
    pipeline = writable_pipeline(store, principal, pipeline_id)
    if not display_name.strip():
        return pipeline
    return store.update_record(PipelineRecord, pipeline_id, display_name=display_name)


def update_version(
    store: MetadataStore,
    principal: Principal,
    pipeline_id: str,
    version_id: str,
    *,
    display_name: str,
) -> PipelineVersionRecord:
    writable_pipeline(store, principal, pipeline_id)
    version = get_version(store, principal, pipeline_id, version_id)
    if not display_name.strip():
        return version
    return store.update_record(PipelineVersionRecord, version_id, display_name=display_name)


def create_pipeline_and_version(
    store: MetadataStore,
    principal: Principal,
    *,
    name: str,
    display_name: str = "",
    description: str = "",
    namespace: str | None = None,
    spec: dict[str, Any],
    version_name: str = "",
    version_display_name: str = "",
    version_description: str = "",
    code_source_url: str = "",
) -> tuple[PipelineRecord, PipelineVersionRecord]:
    """A pipeline and its first version in one call; the version is removed again with the
    pipeline when it cannot be stored."""
    pipeline = create_pipeline(
        store,
        principal,
        name=name,
        display_name=display_name,
        description=description,
        namespace=namespace,
        spec=spec,
    )
    try:
        version = add_version(
            store,
            pipeline,
            name=version_name or name,
            display_name=version_display_name or version_name or display_name or name,
            description=version_description or description,
            spec=spec,
            code_source_url=code_source_url,
        )
    except Exception:
        store.delete_record(PipelineRecord, pipeline.pipeline_id)
        raise
    return pipeline, version


def get_version(
    store: MetadataStore, principal: Principal, pipeline_id: str, version_id: str
) -> PipelineVersionRecord:
    get_pipeline(store, principal, pipeline_id)
    version = store.get_record(PipelineVersionRecord, version_id)
    if version.pipeline_id != pipeline_id:
        raise _version_missing(version_id)
    return version


def _version_missing(version_id: str) -> Exception:
    from ...stores import not_found

    return not_found(PipelineVersionRecord, version_id)


def latest_version(store: MetadataStore, pipeline_id: str) -> PipelineVersionRecord:
    page = store.query_records(
        PipelineVersionRecord,
        ListQuery(predicates=(Predicate("pipeline_id", "eq", pipeline_id),), limit=1),
    )
    if not page.records:
        raise UserInputError(
            f"pipeline {pipeline_id!r} has no versions", hint="upload a version first"
        )
    return page.records[0]


def newest_version(store: MetadataStore, pipeline_id: str) -> PipelineVersionRecord | None:
    """The pipeline's latest version (v1's default version), None when it has none."""
    page = store.query_records(
        PipelineVersionRecord,
        ListQuery(predicates=(Predicate("pipeline_id", "eq", pipeline_id),), limit=1),
    )
    return page.records[0] if page.records else None


def get_version_by_id(
    store: MetadataStore, principal: Principal, version_id: str
) -> PipelineVersionRecord:
    """A version found by its id alone (v1 addresses versions so), if its pipeline is visible."""
    version = store.get_record(PipelineVersionRecord, version_id)
    return get_version(store, principal, version.pipeline_id, version_id)


def list_versions(
    store: MetadataStore, principal: Principal, pipeline_id: str, query: ListQuery
) -> Page:
    get_pipeline(store, principal, pipeline_id)
    scoped = ListQuery(
        (*query.predicates, Predicate("pipeline_id", "eq", pipeline_id)),
        query.sort_by,
        query.descending,
        query.limit,
        query.offset,
    )
    return store.query_records(PipelineVersionRecord, scoped)


def delete_version(
    store: MetadataStore, principal: Principal, pipeline_id: str, version_id: str
) -> None:
    writable_pipeline(store, principal, pipeline_id)
    get_version(store, principal, pipeline_id, version_id)
    store.delete_record(PipelineVersionRecord, version_id)
