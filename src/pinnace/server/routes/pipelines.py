"""Pipeline and pipeline version routes, including the multipart uploads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from pydantic import BaseModel, ConfigDict

from ...errors import UserInputError
from ...stores.base import PipelineRecord
from .. import views
from ..auth import context, current_principal
from ..errors import PayloadTooLargeError
from ..services import pipelines as svc
from ..services.accounts import Principal
from ..services.common import visible_namespaces
from ..wire import ListParams, list_response
from . import fields

router = APIRouter(prefix="/apis/v2beta1")
Caller = Depends(current_principal)
Listing = Depends(ListParams)
PackageFile = File(...)


class PipelineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline_id: str | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    namespace: str | None = None
    created_at: str | None = None
    tags: dict[str, str] | None = None


class VersionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    name: str | None = None
    display_name: str | None = None
    description: str | None = None
    created_at: str | None = None
    package_url: dict[str, Any] | None = None
    code_source_url: str | None = None
    pipeline_spec: dict[str, Any] | None = None
    tags: dict[str, str] | None = None


def _read_upload(request: Request, upload: UploadFile) -> bytes:
    limit = context(request).options.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLargeError(
            f"the upload is over the limit of {limit} bytes",
            hint="set PINNACE_MAX_UPLOAD_BYTES to allow more",
        )
    return data


@router.post("/pipelines/upload")
def upload_pipeline(
    request: Request,
    uploadfile: UploadFile = PackageFile,
    name: str | None = None,
    display_name: str | None = None,
    description: str = "",
    namespace: str | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    data = _read_upload(request, uploadfile)
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


@router.post("/pipelines/upload_version")
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
    data = _read_upload(request, uploadfile)
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
    return list_response(
        "pipelines", [views.pipeline(p) for p in page.records], query.offset, page.total
    )


@router.get("/pipelines/names/{name}")
def get_pipeline_by_name(
    request: Request, name: str, namespace: str | None = None, principal: Principal = Caller
) -> dict[str, Any]:
    return views.pipeline(
        svc.get_pipeline_by_name(context(request).backend.metadata, principal, name)
    )


@router.get("/pipelines/{pipeline_id}")
def get_pipeline(
    request: Request, pipeline_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    return views.pipeline(
        svc.get_pipeline(context(request).backend.metadata, principal, pipeline_id)
    )


@router.delete("/pipelines/{pipeline_id}")
def delete_pipeline(
    request: Request, pipeline_id: str, cascade: bool = False, principal: Principal = Caller
) -> dict[str, Any]:
    svc.delete_pipeline(context(request).backend.metadata, principal, pipeline_id)
    return {}


@router.post("/pipelines/{pipeline_id}/versions")
def create_version(
    request: Request, pipeline_id: str, body: VersionBody, principal: Principal = Caller
) -> dict[str, Any]:
    if body.pipeline_spec is None:
        raise UserInputError(
            "this server does not fetch package_url; send pipeline_spec "
            "inline or use /pipelines/upload_version"
        )
    store = context(request).backend.metadata
    pipeline = svc.get_pipeline(store, principal, pipeline_id)
    from ...spec.load import load_spec

    spec = load_spec(body.pipeline_spec, path_hint="pipeline_spec").pipeline_spec
    version = svc.add_version(
        store,
        pipeline,
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
    query = listing.query(
        fields=fields.VERSION,
        time_fields=fields.CREATED,
    )
    page = svc.list_versions(context(request).backend.metadata, principal, pipeline_id, query)
    versions = [views.pipeline_version(v) for v in page.records]
    return list_response("pipeline_versions", versions, query.offset, page.total)


@router.get("/pipelines/{pipeline_id}/versions/{version_id}")
def get_version(
    request: Request, pipeline_id: str, version_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    return views.pipeline_version(svc.get_version(store, principal, pipeline_id, version_id))


@router.delete("/pipelines/{pipeline_id}/versions/{version_id}")
def delete_version(
    request: Request, pipeline_id: str, version_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.delete_version(context(request).backend.metadata, principal, pipeline_id, version_id)
    return {}
