"""The one place PinnaceError classes become HTTP problems: `{code, message, details}`.

`code` is the gRPC status code KFP's gateway sends; the HTTP status follows grpc-gateway's
mapping. Unexpected exceptions answer 500 without a traceback or internal paths. The upload
routes answer as KFP's upload handler does: `{error_message, error_details}` (`UploadRoute`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from ..errors import NotFoundError, PinnaceError, RunBusyError, StoreError, UserInputError
from ..model.state import IllegalTransition
from .errors import (
    AuthenticationError,
    ConflictError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionError,
    TooManyRequestsError,
)

_LOG = logging.getLogger("pinnace.server")

# (error class, HTTP status, gRPC code); the first matching class wins, so subclasses first.
_MAPPING: tuple[tuple[type[BaseException], int, int], ...] = (
    (AuthenticationError, 401, 16),  # UNAUTHENTICATED
    (PermissionDeniedError, 403, 7),  # PERMISSION_DENIED
    (NotFoundError, 404, 5),  # NOT_FOUND
    (RunBusyError, 409, 10),  # ABORTED: another live process drives the run
    (ConflictError, 409, 6),  # ALREADY_EXISTS
    (PayloadTooLargeError, 413, 8),  # RESOURCE_EXHAUSTED
    (TooManyRequestsError, 429, 8),  # RESOURCE_EXHAUSTED
    (PreconditionError, 400, 9),  # FAILED_PRECONDITION
    (IllegalTransition, 400, 9),
    (UserInputError, 400, 3),  # INVALID_ARGUMENT
    (StoreError, 503, 14),  # UNAVAILABLE
    (PinnaceError, 500, 13),  # INTERNAL
)
_HTTP_TO_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 413: 8, 415: 3, 422: 3, 429: 8}


def problem(
    status: int,
    code: int,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    details: list[dict[str, Any]] = []
    if hint:
        details.append({"@type": "type.googleapis.com/google.rpc.Help", "hint": hint})
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"code": code, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: BaseException) -> tuple[int, int]:
    for kind, status, code in _MAPPING:
        if isinstance(exc, kind):
            return status, code
    return 500, 13


def _pinnace_error(request: Request, exc: Exception) -> JSONResponse:
    status, code = status_of(exc)
    if status >= 500:
        _LOG.error("%s %s failed: %s", request.method, request.url.path, exc)
    message = getattr(exc, "message", str(exc))
    headers = None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem(status, code, message, getattr(exc, "hint", None), headers)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return problem(
        400,
        3,
        "invalid request: " + ("; ".join(parts) or "malformed body"),
        "send JSON with the fields of the KFP v2beta1 API (snake_case)",
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return problem(status, _HTTP_TO_GRPC.get(status, 2), str(detail))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _LOG.exception("%s %s failed", request.method, request.url.path)
    return problem(500, 13, "internal server error; see the server log")


def _any_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, PinnaceError):
        return _pinnace_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return _validation_error(request, exc)
    if isinstance(exc, HTTPException):
        return _http_error(request, exc)
    return _unexpected(request, exc)


def upload_problem(request: Request, exc: Exception) -> JSONResponse:
    """An error of an upload route, shaped as KFP's upload handler writes it."""
    answer = _any_error(request, exc)
    body = json.loads(bytes(answer.body))
    hints = [d["hint"] for d in body.get("details", []) if "hint" in d]
    details = body["message"] + "".join(f"\nhint: {h}" for h in hints)
    return JSONResponse(
        {"error_message": body["message"], "error_details": details},
        status_code=answer.status_code,
        headers={k: v for k, v in answer.headers.items() if k.lower() == "www-authenticate"},
    )


class UploadRoute(APIRoute):
    """A route whose errors (validation included) use the upload error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every error, whatever its kind, gets the upload shape
                return upload_problem(request, exc)

        return route


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(PinnaceError, _pinnace_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
