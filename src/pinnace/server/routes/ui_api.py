"""Dashboard routes beyond the KFP API (`/apis/pinnace/v1/ui/...`): graph, events, logs,
task details, artifact previews and lists. Same auth and namespace rules as the KFP routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel

from ..auth import context, current_principal
from ..services import ui as svc
from ..services import ui_events, ui_files, ui_runs, ui_upload
from ..services.accounts import Principal
from ..views import run as run_view
from ..wire import list_response, page_window

router = APIRouter(prefix="/apis/pinnace/v1/ui")
Caller = Depends(current_principal)
PackageFile = File(...)
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_NOSNIFF = {"X-Content-Type-Options": "nosniff"}


@router.get("/runs/{run_id}/graph")
def run_graph(
    request: Request, run_id: str, artifacts: bool = False, principal: Principal = Caller
) -> dict[str, Any]:
    return svc.run_graph(context(request), principal, run_id, artifacts=artifacts)


@router.get("/runs/{run_id}")
def run_summary(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    """The run page's read of a run: KFP's run fields without the spec and task details."""
    view = run_view(svc.visible_run(context(request), principal, run_id))
    view.pop("pipeline_spec", None)
    return view


@router.get("/runs/{run_id}/config")
def run_config(request: Request, run_id: str, principal: Principal = Caller) -> dict[str, Any]:
    return ui_runs.run_config(context(request), principal, run_id)


@router.get("/pipelines/{pipeline_id}/versions/{version_id}/graph")
def version_graph(
    request: Request,
    pipeline_id: str,
    version_id: str,
    artifacts: bool = False,
    principal: Principal = Caller,
) -> dict[str, Any]:
    return ui_runs.version_graph(
        context(request), principal, pipeline_id, version_id, artifacts=artifacts
    )


@router.post("/pipelines/inspect")
def inspect_package(
    request: Request, uploadfile: UploadFile = PackageFile, principal: Principal = Caller
) -> dict[str, Any]:
    """The name and description a pipeline package gives itself (the upload form's default)."""
    limit = context(request).options.max_upload_bytes
    data = uploadfile.file.read(limit + 1)
    return ui_runs.package_info(uploadfile.filename or "", data, limit)


class UrlUpload(BaseModel):
    """A package URL for the server to download; a `pipeline_id` makes it a new version."""

    url: str
    pipeline_id: str = ""
    name: str = ""
    description: str = ""


@router.post("/pipelines/upload_url")
def upload_from_url(
    request: Request, body: UrlUpload, principal: Principal = Caller
) -> dict[str, Any]:
    """Upload from a URL: the server downloads it (https, allowlisted public hosts only)."""
    return ui_upload.upload_from_url(
        context(request),
        principal,
        body.url,
        pipeline_id=body.pipeline_id,
        name=body.name.strip(),
        description=body.description.strip(),
    )


@router.get("/namespaces")
def namespaces(request: Request, principal: Principal = Caller) -> dict[str, Any]:
    return {"namespaces": ui_runs.namespaces(context(request), principal)}


@router.get("/recurringruns/{recurring_run_id}/schedule")
def recurring_schedule(
    request: Request, recurring_run_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    return ui_runs.recurring_schedule(context(request), principal, recurring_run_id)


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str, principal: Principal = Caller) -> Response:
    from starlette.concurrency import run_in_threadpool

    ctx = context(request)
    await run_in_threadpool(svc.visible_run, ctx, principal, run_id)  # 404 before streaming
    stream = ui_events.run_events(ctx, principal, run_id, request.is_disconnected)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get("/runs/{run_id}/tasks/{path:path}/logs/stream")
async def task_log_stream(
    request: Request, run_id: str, path: str, principal: Principal = Caller
) -> Response:
    from starlette.concurrency import run_in_threadpool

    ctx = context(request)
    await run_in_threadpool(ui_files.log_file, ctx, principal, run_id, path)  # 404 first
    stream = ui_events.log_events(ctx, principal, run_id, path, request.is_disconnected)
    return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get("/runs/{run_id}/tasks/{path:path}/logs")
def task_log(
    request: Request,
    run_id: str,
    path: str,
    tail_bytes: int | None = Query(None, ge=1),
    download: bool = False,
    principal: Principal = Caller,
) -> Any:
    ctx = context(request)
    if not download:
        return ui_files.log_tail(ctx, principal, run_id, path, tail_bytes)
    log = ui_files.log_file(ctx, principal, run_id, path)
    text = log.read_bytes() if log is not None and log.is_file() else b""
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in path)[:100] or "task"
    return PlainTextResponse(
        text,
        headers={"Content-Disposition": f'attachment; filename="{name}.log"', **_NOSNIFF},
    )


@router.get("/runs/{run_id}/tasks/{path:path}")
def task_details(
    request: Request, run_id: str, path: str, principal: Principal = Caller
) -> dict[str, Any]:
    return svc.task_details(context(request), principal, run_id, path)


@router.get("/artifacts")
def list_artifacts(
    request: Request,
    run_id: str | None = None,
    task: str | None = None,
    type: str | None = None,
    page_token: str | None = None,
    page_size: int | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    offset, limit = page_window(page_token, page_size)
    found, total = svc.list_artifacts(
        context(request), principal, run_id=run_id, task=task, type=type,
        offset=offset, limit=limit,
    )  # fmt: skip
    return list_response("artifacts", found, offset, total)


@router.get("/executions")
def list_executions(
    request: Request,
    run_id: str | None = None,
    task: str | None = None,
    state: str | None = None,
    page_token: str | None = None,
    page_size: int | None = None,
    principal: Principal = Caller,
) -> dict[str, Any]:
    offset, limit = page_window(page_token, page_size)
    found, total = svc.list_executions(
        context(request), principal, run_id=run_id, task=task, state=state,
        offset=offset, limit=limit,
    )  # fmt: skip
    return list_response("executions", found, offset, total)


@router.get("/metrics")
def run_metrics(
    request: Request, run_ids: str = "", principal: Principal = Caller
) -> dict[str, Any]:
    """`{runs: {run_id: {metric: value}}}` from the Metrics artifacts of comma-separated runs."""
    ids = [i for i in run_ids.split(",") if i]
    return {"runs": svc.run_metrics(context(request), principal, ids)}


@router.get("/artifacts/{artifact_id}/lineage")
def artifact_lineage(
    request: Request, artifact_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    return ui_runs.lineage(context(request), principal, artifact_id)


@router.get("/artifacts/{artifact_id}/preview")
def artifact_preview(
    request: Request, artifact_id: str, principal: Principal = Caller
) -> dict[str, Any]:
    return ui_files.artifact_preview(context(request), principal, artifact_id)


@router.get("/artifacts/{artifact_id}/render")
def artifact_render(request: Request, artifact_id: str, principal: Principal = Caller) -> Response:
    """An HTML artifact as a page for a sandboxed frame: its scripts run, but the response's
    own CSP sandbox gives it an opaque origin (no cookies, no access to the dashboard), even
    when opened on its own."""
    body = ui_files.html_document(context(request), principal, artifact_id)
    return Response(body, media_type="text/html; charset=utf-8", headers=ui_files.FRAME_HEADERS)


@router.get("/artifacts/{artifact_id}/content")
def artifact_content(request: Request, artifact_id: str, principal: Principal = Caller) -> Response:
    """PNG, JPEG and GIF inline (for <img>); anything else as an attachment."""
    return _file(request, artifact_id, principal, inline=True)


@router.get("/artifacts/{artifact_id}/download")
def artifact_download(
    request: Request, artifact_id: str, principal: Principal = Caller
) -> Response:
    return _file(request, artifact_id, principal, inline=False)


def _file(request: Request, artifact_id: str, principal: Principal, *, inline: bool) -> Response:
    chunks, content_type, name, shown = ui_files.artifact_content(
        context(request), principal, artifact_id, inline=inline
    )
    disposition = "inline" if shown else f'attachment; filename="{name}"'
    headers = {
        "Content-Disposition": disposition,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        **_NOSNIFF,
    }
    return StreamingResponse(chunks, media_type=content_type, headers=headers)
