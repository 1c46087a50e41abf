"""KFP v1beta1 routes for experiments, pipelines and pipeline versions (kfp 1.8's client)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ...errors import UserInputError
from ...stores.base import PipelineRecord
from .. import wire_v1 as v1
from ..auth import context, current_principal
from ..problems import UploadRoute
from ..services import experiments as experiments_svc
from ..services import pipelines as svc
from ..services.accounts import Principal
from ..services.common import visible_namespaces
from ..wire import KfpBody, ListParams, list_response
from . import experiments as v2_experiments
from . import fields
from .pipelines import read_upload

router = APIRouter(prefix="/apis/v1beta1")
Caller = Depends(current_principal)
Listing = Depends(ListParams)
PackageFile = File(...)
RefType = Query(None, alias="resource_reference_key.type")
RefId = Query(None, alias="resource_reference_key.id")
KeyType = Query(None, alias="resource_key.type")
KeyId = Query(None, alias="resource_key.id")


class V1ResourceKey(KfpBody):
    type: str | None = None
    id: str | None = None


class V1ResourceReference(KfpBody):
    key: V1ResourceKey | None = None
    name: str | None = None
    relationship: str | None = None


class V1Experiment(KfpBody):
    id: str | None = None
    name: str | None = None
    description: str | None = None
    created_at: str | None = None
    resource_references: list[V1ResourceReference] | None = None
    storage_state: str | None = None


def references(refs: list[V1ResourceReference] | None) -> v1.References:
    return v1.read_references([r.model_dump(exclude_none=True) for r in refs or ()])


def v1_listing(listing: ListParams) -> ListParams:
    return ListParams(listing.page_token, listing.page_size, listing.sort_by,
                      v1.v1_filter(listing.filter))  # fmt: skip


def namespace_of(kind: str | None, key: str | None) -> str | None:
    return key if kind == v1.NAMESPACE and key else None


@dataclass(frozen=True)
class V1List:
    """A v1 list call: its page, sort and filter (read as v1's), and its resource reference."""

    listing: ListParams
    ref_type: str | None
    ref_id: str | None


def _v1_list(
    listing: ListParams = Listing, ref_type: str | None = RefType, ref_id: str | None = RefId
) -> V1List:
    return V1List(v1_listing(listing), ref_type, ref_id)


V1Listed = Depends(_v1_list)


@router.post("/experiments")
def create_experiment(
    request: Request, body: V1Experiment, principal: Principal = Caller
) -> dict[str, Any]:
    record = experiments_svc.create_experiment(
        context(request).backend.metadata,
        principal,
        name=body.name or "",
        description=body.description or "",
        namespace=references(body.resource_references).namespace,
    )
    return v1.experiment(record)


@router.get("/experiments")
def list_experiments(
    request: Request, call: V1List = V1Listed, principal: Principal = Caller
) -> dict[str, Any]:
    query = call.listing.query(
        fields=fields.EXPERIMENT,
        time_fields=fields.EXPERIMENT_TIMES,
        namespaces=visible_namespaces(principal, namespace_of(call.ref_type, call.ref_id)),
    )
    page = experiments_svc.list_experiments(context(request).backend.metadata, query)
    listed = [v1.experiment(e) for e in page.records]
    return list_response("experiments", listed, query.offset, page.total, omit_zero=True)


@router.get("/experiments/{experiment_id}")
def get_experiment(
    request: Request, experiment_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    return v1.experiment(experiments_svc.get_experiment(store, principal, experiment_id))


# Delete, archive and unarchive of an experiment are the same on v1 as on v2beta1.
router.delete("/experiments/{experiment_id}")(v2_experiments.delete_experiment)
router.post("/experiments/{experiment_id}:archive")(v2_experiments.archive_experiment)
router.post("/experiments/{experiment_id}:unarchive")(v2_experiments.unarchive_experiment)


def _pipeline(request: Request, record: PipelineRecord) -> dict[str, Any]:
    store = context(request).backend.metadata
    return v1.pipeline(record, svc.newest_version(store, record.pipeline_id))


def upload_pipeline(
    request: Request,
    uploadfile: UploadFile = PackageFile,
    name: str | None = None,
    description: str = "",
    principal: Principal = Caller,
) -> dict[str, Any]:
    ctx = context(request)
    pipeline, _ = svc.upload_pipeline(
        ctx.backend.metadata,
        principal,
        filename=uploadfile.filename or "",
        data=read_upload(request, uploadfile),
        max_bytes=ctx.options.max_upload_bytes,
        name=name,
        description=description,
    )
    return _pipeline(request, pipeline)


def upload_version(
    request: Request,
    uploadfile: UploadFile = PackageFile,
    name: str | None = None,
    pipelineid: str = "",
    description: str = "",
    principal: Principal = Caller,
) -> dict[str, Any]:
    ctx = context(request)
    version = svc.upload_version(
        ctx.backend.metadata,
        principal,
        pipeline_id=pipelineid,
        filename=uploadfile.filename or "",
        data=read_upload(request, uploadfile),
        max_bytes=ctx.options.max_upload_bytes,
        name=name,
        description=description,
    )
    return v1.pipeline_version(version)


for _path, _endpoint in (
    ("/pipelines/upload", upload_pipeline),
    ("/pipelines/upload_version", upload_version),
):
    router.add_api_route(_path, _endpoint, methods=["POST"], route_class_override=UploadRoute)


class V1Url(KfpBody):
    pipeline_url: str | None = None


class V1Pipeline(KfpBody):
    id: str | None = None
    created_at: str | None = None
    name: str | None = None
    description: str | None = None
    parameters: list[dict[str, Any]] | None = None
    url: V1Url | None = None
    error: str | None = None
    default_version: dict[str, Any] | None = None
    resource_references: list[V1ResourceReference] | None = None


class V1PipelineVersion(KfpBody):
    id: str | None = None
    name: str | None = None
    created_at: str | None = None
    parameters: list[dict[str, Any]] | None = None
    code_source_url: str | None = None
    package_url: V1Url | None = None
    resource_references: list[V1ResourceReference] | None = None
    description: str | None = None


def _downloaded(request: Request, url: V1Url | None) -> dict[str, Any]:
    options = context(request).options
    return svc.version_spec(
        None,
        url.pipeline_url if url else None,
        max_bytes=options.max_upload_bytes,
        extra_domains=options.package_url_domains,
    )


@router.post("/pipelines")
def create_pipeline(
    request: Request, body: V1Pipeline, principal: Principal = Caller
) -> dict[str, Any]:
    """A pipeline and its first version from the package at `url` (KFP's URL import)."""
    spec = _downloaded(request, body.url)
    pipeline, _ = svc.create_pipeline_and_version(
        context(request).backend.metadata,
        principal,
        name=body.name or "",
        description=body.description or "",
        namespace=references(body.resource_references).namespace,
        spec=spec,
    )
    return _pipeline(request, pipeline)


@router.post("/pipeline_versions")
def create_version(
    request: Request, body: V1PipelineVersion, principal: Principal = Caller
) -> dict[str, Any]:
    pipeline_id = references(body.resource_references).pipeline_id
    if not pipeline_id:
        raise UserInputError(
            "a pipeline version needs its pipeline",
            hint='add {"key": {"type": "PIPELINE", "id": ...}, "relationship": "OWNER"}',
        )
    spec = _downloaded(request, body.package_url)
    version = svc.create_version(
        context(request).backend.metadata,
        principal,
        pipeline_id,
        name=body.name or "",
        spec=spec,
        description=body.description or "",
        code_source_url=body.code_source_url or "",
    )
    return v1.pipeline_version(version)


@router.get("/pipelines")
def list_pipelines(
    request: Request, listing: ListParams = Listing, principal: Principal = Caller
) -> dict[str, Any]:
    query = v1_listing(listing).query(
        fields=fields.PIPELINE,
        time_fields=fields.CREATED,
        namespaces=visible_namespaces(principal, None, shared=True),
    )
    page = context(request).backend.metadata.query_records(PipelineRecord, query)
    listed = [_pipeline(request, p) for p in page.records]
    return list_response("pipelines", listed, query.offset, page.total, omit_zero=True)


@router.get("/pipelines/{pipeline_id}")
def get_pipeline(
    request: Request, pipeline_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    return _pipeline(request, svc.get_pipeline(store, principal, pipeline_id))


@router.delete("/pipelines/{pipeline_id}")
def delete_pipeline(
    request: Request, pipeline_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    """Deletes the pipeline with its versions, as KFP 1.x did (kfp 1.8 has no cascade flag)."""
    svc.delete_pipeline(context(request).backend.metadata, principal, pipeline_id, cascade=True)
    return {}


@router.get("/pipelines/{pipeline_id}/templates")
def get_template(request: Request, pipeline_id: str, principal: Principal = Caller) -> Any:
    store = context(request).backend.metadata
    svc.get_pipeline(store, principal, pipeline_id)
    version = svc.latest_version(store, pipeline_id)
    return {"template": yaml.safe_dump(version.spec, sort_keys=False)}


@router.get("/pipeline_versions")
def list_versions(
    request: Request,
    listing: ListParams = Listing,
    key_type: str | None = KeyType,
    key_id: str | None = KeyId,
    principal: Principal = Caller,
) -> dict[str, Any]:
    if key_type != v1.PIPELINE or not key_id:
        raise UserInputError(
            "list versions of one pipeline",
            hint="pass resource_key.type=PIPELINE and resource_key.id=<pipeline id>",
        )
    query = v1_listing(listing).query(fields=fields.VERSION, time_fields=fields.CREATED)
    page = svc.list_versions(context(request).backend.metadata, principal, key_id, query)
    listed = [v1.pipeline_version(v) for v in page.records]
    return list_response("versions", listed, query.offset, page.total, omit_zero=True)


@router.get("/pipeline_versions/{version_id}")
def get_version(request: Request, version_id: str, principal: Principal = Caller) -> Any:
    store = context(request).backend.metadata
    return v1.pipeline_version(svc.get_version_by_id(store, principal, version_id))


@router.get("/pipeline_versions/{version_id}/templates")
def get_version_template(request: Request, version_id: str, principal: Principal = Caller) -> Any:
    version = svc.get_version_by_id(context(request).backend.metadata, principal, version_id)
    return {"template": yaml.safe_dump(version.spec, sort_keys=False)}


@router.delete("/pipeline_versions/{version_id}")
def delete_version(request: Request, version_id: str, principal: Principal = Caller) -> Any:
    store = context(request).backend.metadata
    version = svc.get_version_by_id(store, principal, version_id)
    svc.delete_version(store, principal, version.pipeline_id, version_id)
    return {}
