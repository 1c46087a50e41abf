"""Experiment routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .. import views
from ..auth import context, current_principal
from ..services import experiments as svc
from ..services.accounts import Principal
from ..services.common import visible_namespaces
from ..wire import KfpBody, ListParams, list_response
from . import fields

router = APIRouter(prefix="/apis/v2beta1")
Caller = Depends(current_principal)
Listing = Depends(ListParams)


class ExperimentBody(KfpBody):
    experiment_id: str | None = None
    display_name: str | None = None
    description: str | None = None
    namespace: str | None = None
    created_at: str | None = None
    storage_state: str | None = None
    last_run_created_at: str | None = None


@router.post("/experiments")
def create_experiment(
    request: Request, body: ExperimentBody, principal: Principal = Caller
) -> dict[str, Any]:
    record = svc.create_experiment(
        context(request).backend.metadata,
        principal,
        name=body.display_name or "",
        description=body.description or "",
        namespace=body.namespace,
    )
    return views.experiment(record)


@router.get("/experiments")
def list_experiments(
    request: Request,
    listing: ListParams = Listing,
    namespace: str | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    query = listing.query(
        fields=fields.EXPERIMENT,
        time_fields=fields.EXPERIMENT_TIMES,
        namespaces=visible_namespaces(principal, namespace),
    )
    page = svc.list_experiments(context(request).backend.metadata, query)
    experiments = [views.experiment(e) for e in page.records]
    return list_response("experiments", experiments, query.offset, page.total, omit_zero=True)


@router.get("/experiments/{experiment_id}")
def get_experiment(
    request: Request, experiment_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    store = context(request).backend.metadata
    return views.experiment(svc.get_experiment(store, principal, experiment_id))


@router.delete("/experiments/{experiment_id}")
def delete_experiment(
    request: Request, experiment_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.delete_experiment(context(request).backend.metadata, principal, experiment_id)
    return {}


@router.post("/experiments/{experiment_id}:archive")
def archive_experiment(
    request: Request, experiment_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.set_storage_state(context(request).backend.metadata, principal, experiment_id, svc.ARCHIVED)
    return {}


@router.post("/experiments/{experiment_id}:unarchive")
def unarchive_experiment(
    request: Request, experiment_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    svc.set_storage_state(
        context(request).backend.metadata, principal, experiment_id, svc.AVAILABLE
    )
    return {}
