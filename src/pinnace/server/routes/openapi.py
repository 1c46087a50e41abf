"""`/openapi.json`: the OpenAPI 3 document of the KFP routes (v1beta1 and v2beta1), without
credentials, as FastAPI builds it from the routes, with KFP's error shapes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ... import __version__

router = APIRouter()
#: the API families the document describes (the dashboard's own routes are left out)
PREFIXES = ("/apis/v1beta1/", "/apis/v2beta1/")
_STATUS = {
    "type": "object",
    "description": "An error, as KFP's gateway sends it (google.rpc.Status).",
    "properties": {
        "code": {"type": "integer", "description": "the gRPC status code"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}
_UPLOAD_ERROR = {
    "type": "object",
    "description": "An error of an upload route, as KFP's upload handler sends it.",
    "properties": {"error_message": {"type": "string"}, "error_details": {"type": "string"}},
}


@router.get("/openapi.json", include_in_schema=False)
def openapi_document(request: Request) -> dict[str, Any]:
    cached = getattr(request.app.state, "kfp_openapi", None)
    if cached is None:
        from fastapi.openapi.utils import get_openapi

        document = get_openapi(
            title="Pinnace: the Kubeflow Pipelines API",
            version=__version__,
            description="KFP's v2beta1 and v1beta1 REST APIs, as this server serves them.",
            routes=request.app.routes,
        )
        cached = with_kfp_errors(only_paths(document, PREFIXES))
        request.app.state.kfp_openapi = cached
    return cached


def only_paths(document: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """`document` with the paths under `prefixes` and the schemas they refer to."""
    paths = {p: v for p, v in document.get("paths", {}).items() if p.startswith(prefixes)}
    schemas = document.get("components", {}).get("schemas", {})
    kept: dict[str, Any] = {}
    pending: list[Any] = [paths]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in kept and name in schemas:
                    kept[name] = schemas[name]
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    components = {**document.get("components", {}), "schemas": dict(sorted(kept.items()))}
    return {**document, "paths": paths, "components": components}


def with_kfp_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Errors as this server answers them: 400 and the others with a KFP error body, where
    FastAPI writes its own 422 validation error (which this server never sends)."""
    for path, operations in document["paths"].items():
        upload = path.endswith(("/upload", "/upload_version"))
        schema = {"$ref": "#/components/schemas/" + ("UploadError" if upload else "Status")}
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["default"] = {
                "description": "An error (400 invalid, 401, 403, 404, 409, 413, 500...)",
                "content": {"application/json": {"schema": schema}},
            }
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update({"Status": _STATUS, "UploadError": _UPLOAD_ERROR})
    # Every KFP route but healthz takes a token (`pinnace tokens create`) or a session cookie.
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    document["security"] = [{"bearer": []}]
    for path in [p for p in document["paths"] if p.endswith("/healthz")]:
        for operation in document["paths"][path].values():
            operation["security"] = []
    return document
