"""Pipeline and pipeline version routes, including the multipart uploads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile

from ...stores.base import PipelineRecord
from .. import views
from ..auth import context, current_principal
from ..errors import PayloadTooLargeError
from ..problems import UploadRoute
from ..services import pipelines as svc
from ..services.accounts import Principal
from ..services.common import visible_namespaces
from ..wire import KfpBody, ListParams, list_response
from . import fields

router = APIRouter(prefix="/apis/v2beta1")
Caller = Depends(current_principal)
Listing = Depends(ListParams)
PackageFile = File(...)


class PipelineBody(KfpBody):
    pipeline_id: str | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    namespace: str | None = None
    created_at: str | None = None
    error: dict[str, Any] | None = None
    tags: dict[str, str] | None = None


class Url(KfpBody):
    pipeline_url: str | None = None


class VersionBody(KfpBody):
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    created_at: str | None = None
    package_url: Url | None = None
    code_source_url: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    tags: dict[str, str] | None = None


class PipelineAndVersionBody(KfpBody):
    pipeline: PipelineBody
    pipeline_version: VersionBody


def package_spec(request: Request, version: VersionBody) -> dict[str, Any]:
    """The version's spec: inline, or downloaded from its package_url."""
    options = context(request).options
    return svc.version_spec(
        version.pipeline_spec,
        version.package_url.pipeline_url if version.package_url else None,
        max_bytes=options.max_upload_bytes,
        extra_domains=options.package_url_domains,
    )


def read_upload(request: Request, upload: UploadFile) -> bytes:
    limit = context(request).options.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(
            f"the upload is over the limit of {limit} bytes",
            hint="set PINNACE_MAX_UPLOAD_BYTES to allow more",
        )
    return data


def upload_pipeline(
    request: Request,
    uploadfile: UploadFile = PackageFile,
    name: str | None = None,
    display_name: str | None = None,
    description: str = "",
    namespace: str | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    data = read_upload(request, uploadfile)
    pipeline, _ = svc.upload_pipeline(
        context(request).backend.metadata,
        principal,
        filename=uploadfile.filename or "",
        data=data,
        max_bytes=context(request).options.max_upload_bytes,
        name=name,
        display_name=display_name,
        description=description,
        namespace=namespace,
    )
    return views.pipeline(pipeline)


def upload_version(
    request: Request,
    uploadfile: UploadFile = PackageFile,
    pipelineid: str = "",
    name: str | None = None,
    display_name: str | None = None,
    description: str = "",
    code_source_url: str = "",
    principal: Principal = Caller,
) -> dict[str, Any]:
    data = read_upload(request, uploadfile)
    version = svc.upload_version(
        context(request).backend.metadata,
        principal,
        pipeline_id=pipelineid,
        filename=uploadfile.filename or "",
        data=data,
        max_bytes=context(request).options.max_upload_bytes,
        name=name,
        display_name=display_name,
        description=description,
        code_source_url=code_source_url,
    )
    return views.pipeline_version(version)


# KFP's upload handler is plain HTTP, not the gRPC gateway: its errors have their own shape.
for _path, _endpoint in (
    ("/pipelines/upload", upload_pipeline),
    ("/pipelines/upload_version", upload_version),
):
    router.add_api_route(_path, _endpoint, methods=["POST"], route_class_override=UploadRoute)


@router.post("/pipelines")
def create_pipeline(
    request: Request, body: PipelineBody, principal: Principal = Caller
) -> dict[str, Any]:
    record = svc.create_pipeline(
        context(request).backend.metadata,
        principal,
        name=body.name or body.display_name or "",
        display_name=body.display_name or "",
        description=body.description or "",
        namespace=body.namespace,
    )
    return views.pipeline(record)


@router.post("/pipelines/create")
def create_pipeline_and_version(
    request: Request, body: PipelineAndVersionBody, principal: Principal = Caller
) -> dict[str, Any]:
    """KFP's CreatePipelineAndVersion: the pipeline and its first version in one call."""
    version = body.pipeline_version
    spec = package_spec(request, version)
    pipeline, _ = svc.create_pipeline_and_version(
        context(request).backend.metadata,
        principal,
        name=body.pipeline.name or body.pipeline.display_name or "",
        display_name=body.pipeline.display_name or "",
        description=body.pipeline.description or "",
        namespace=body.pipeline.namespace,
        spec=spec,
        version_name=version.name or version.display_name or "",
        version_display_name=version.display_name or "",
        version_description=version.description or "",
        code_source_url=version.code_source_url or "",
    )
    return views.pipeline(pipeline)


@router.get("/pipelines")
def list_pipelines(
    request: Request,
    listing: ListParams = Listing,
    namespace: str | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    query = listing.query(
        fields=fields.PIPELINE,
        time_fields=fields.CREATED,
        namespaces=visible_namespaces(principal, namespace, shared=True),
    )
    page = context(request).backend.metadata.query_records(PipelineRecord, query)
    pipelines = [views.pipeline(p) for p in page.records]
    return list_response("pipelines", pipelines, query.offset, page.total, omit_zero=True)


@router.get("/pipelines/names/{name}")
def get_pipeline_by_name(
    request: Request, name: str, namespace: str | None = None, principal: Principal = Caller
) -> dict[str, Any]:
    return views.pipeline(
        svc.get_pipeline_by_name(context(request).backend.metadata, principal, name, namespace)
    )


@router.get("/pipelines/{pipeline_id}")
def get_pipeline(
    request: Request, pipeline_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    return views.pipeline(
        svc.get_pipeline(context(request).backend.metadata, principal, pipeline_id)
    )


@router.patch("/pipelines/{pipeline_id}")
def update_pipeline(
    request: Request, pipeline_id: str, body: PipelineBody, principal: Principal = Caller
) -> dict[str, Any]:
    """KFP's UpdatePipeline: `display_name` is the mutable field."""
    svc.refuse_tags(body.tags)
    record = svc.update_pipeline(
        context(request).backend.metadata,
        principal,
        pipeline_id,
        display_name=body.display_name or "",
    )
    return views.pipeline(record)


@router.delete("/pipelines/{pipeline_id}")
def delete_pipeline(
    request: Request, pipeline_id: str, cascade: bool = False, principal: Principal = Caller
) -> dict[str, Any]:
    svc.delete_pipeline(context(request).backend.metadata, principal, pipeline_id, cascade=cascade)
    return {}


@router.post("/pipelines/{pipeline_id}/versions")
def create_version(
    request: Request, pipeline_id: str, body: VersionBody, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    spec = package_spec(request, body)
    version = svc.create_version(
        store,
        principal,
        pipeline_id,
        name=body.name or body.display_name or "",
        spec=spec,
        display_name=body.display_name or "",
        description=body.description or "",
        code_source_url=body.code_source_url or "",
    )
    return views.pipeline_version(version)


@router.get("/pipelines/{pipeline_id}/versions")
def list_versions(
    request: Request,
    pipeline_id: str,
    listing: ListParams = Listing,
    principal: Principal = Caller,
) -> dict[str, Any]:
    query = listing.query(fields=fields.VERSION, time_fields=fields.CREATED)
    page = svc.list_versions(context(request).backend.metadata, principal, pipeline_id, query)
    versions = [views.pipeline_version(v) for v in page.records]
    return list_response("pipeline_versions", versions, query.offset, page.total, omit_zero=True)


@router.get("/pipelines/{pipeline_id}/versions/{version_id}")
def get_version(
    request: Request, pipeline_id: str, version_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    return views.pipeline_version(svc.get_version(store, principal, pipeline_id, version_id))


@router.patch("/pipelines/{pipeline_id}/versions/{version_id}")
def update_version(
    request: Request,
    pipeline_id: str,
    version_id: str,
    body: VersionBody,
    principal: Principal = Caller,
) -> dict[str, Any]:
    """KFP's UpdatePipelineVersion: `display_name` is the mutable field."""
    svc.refuse_tags(body.tags)
    version = svc.update_version(
        context(request).backend.metadata,
        principal,
        pipeline_id,
        version_id,
        display_name=body.display_name or "",
    )
    return views.pipeline_version(version)


@router.delete("/pipelines/{pipeline_id}/versions/{version_id}")
def delete_version(
    request: Request, pipeline_id: str, version_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.delete_version(context(request).backend.metadata, principal, pipeline_id, version_id)
    return {}
