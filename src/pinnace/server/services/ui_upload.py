"""The dashboard's "upload from a URL": the server downloads the package under the rules of
`package_url.fetch_package` (the app's CSP keeps the browser from fetching other origins)."""

from __future__ import annotations

from typing import Any

from ..context import ServerContext
from . import pipelines
from .accounts import Principal
from .package_url import DEFAULT_DOMAINS, fetch_package
from .ui_runs import package_info


def upload_from_url(
    ctx: ServerContext,
    principal: Principal,
    url: str,
    *,
    pipeline_id: str = "",
    name: str = "",
    description: str = "",
) -> dict[str, Any]:
    """A new pipeline (named and described from its spec unless given), or a new version of
    `pipeline_id`, from the package at `url`: `{pipeline_id, pipeline_version_id, name}`."""
    options = ctx.options
    limit = options.max_upload_bytes
    filename, data = fetch_package(
        url.strip(), max_bytes=limit, domains=DEFAULT_DOMAINS + options.package_url_domains
    )
    store = ctx.backend.metadata
    if pipeline_id:
        version = pipelines.upload_version(
            store,
            principal,
            pipeline_id=pipeline_id,
            filename=filename,
            data=data,
            max_bytes=limit,
            name=name or None,
            description=description,
            code_source_url=url,
        )
        return {
            "pipeline_id": version.pipeline_id,
            "pipeline_version_id": version.pipeline_version_id,
            "name": version.name,
        }
    own = package_info(filename, data, limit)
    pipeline, version = pipelines.upload_pipeline(
        store,
        principal,
        filename=filename,
        data=data,
        max_bytes=limit,
        name=name or own["name"] or None,
        description=description or own["description"],
    )
    return {
        "pipeline_id": pipeline.pipeline_id,
        "pipeline_version_id": version.pipeline_version_id,
        "name": pipeline.name,
    }
