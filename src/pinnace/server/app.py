"""`create_app(settings)`: the FastAPI application, composed at the edge.

Example:
    >>> app = create_app(Settings.load(home="/tmp/pinnace-home"))   # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8888)                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ..settings import ServerOptions, Settings
from . import problems
from .auth import DEFAULT_AUTHENTICATORS
from .context import ServerContext
from .middleware import (
    HostCheck,
    OriginCheck,
    SecurityHeaders,
    allowed_host_set,
    trusted_origins,
)
from .services.accounts import ADMIN, ensure_admin

_LOG = logging.getLogger("pinnace.server")


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, by header or while streaming."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        # Multipart framing adds a little to the file itself; allow for it.
        limit = self.limit + 64 * 1024
        if length.isdigit() and int(length) > limit:
            response = problems.problem(413, 8, f"the request body is over {self.limit} bytes")
            await response(scope, receive, send)
            return
        seen = 0

        async def bounded_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                from .errors import PayloadTooLargeError

                raise PayloadTooLargeError(f"the request body is over {self.limit} bytes")
            return message

        await self.app(scope, bounded_receive, send)


def create_app(
    settings: Settings,
    options: ServerOptions | None = None,
    *,
    announce: Callable[[str], None] | None = None,
) -> FastAPI:
    """The Pinnace server application for `settings.home`, with `settings.server` as its
    options unless `options` is given.

    Opens the stores (settling runs a dead process left behind), creates the first
    `admin` user when auth is on and no user exists (its generated password goes to
    `announce`, default stderr, once), and drives submitted runs in background threads.
    """
    from ..backend import open_backend
    from ..engine.lease import CLI
    from ..engine.settle import settle_orphaned_runs
    from .metrics import AccessLog, ServerMetrics, install_access_log_handler
    from .routes import (
        account,
        experiments,
        observability,
        openapi,
        pipelines,
        public,
        recurring,
        runs,
        ui_api,
        v1_catalog,
        v1_runs,
    )
    from .run_manager import RunManager
    from .scheduler import Scheduler

    options = options or settings.server
    # Steps of a shared server run sandboxed unless its operator says otherwise; refuse to
    # start (saying what to install) rather than run them unsandboxed silently.
    settings = dataclasses.replace(settings, sandbox=not options.unsandboxed)
    backend = open_backend(settings, settle=False)
    if settings.sandbox:
        try:
            backend.sandbox()
        except Exception:
            backend.close()
            raise
    else:
        _LOG.warning("steps run unsandboxed: each can read and change %s", settings.home)
    from ..executors.supervision import kill_leftover

    # Runs of dead `pinnace run` processes are settled FAILED, unless this server adopts
    # them; its own kind's are adopted (resumed) once the lifespan starts.
    if not options.adopt_cli_runs:
        settle_orphaned_runs(backend.metadata, kill_leftover=kill_leftover, kinds=(CLI, None))
    if options.auth:
        generated = ensure_admin(backend.metadata, options.admin_password)
        if generated:
            (announce or _to_stderr)(
                f"created user {ADMIN!r} with password: {generated}\n"
                "  (shown once; change it by adding another admin with `pinnace users add`)"
            )
    metrics = ServerMetrics()
    ctx = ServerContext(
        backend=backend,
        manager=RunManager(backend, on_event=metrics.on_engine_event),
        metrics=metrics,
        options=options,
    )
    ctx.scheduler = Scheduler(ctx, tick_seconds=options.scheduler_tick_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if options.resume_orphaned_runs:
            ctx.manager.adopt_orphans(cli_runs=options.adopt_cli_runs)
            ctx.manager.keep_adopting(cli_runs=options.adopt_cli_runs)
        assert ctx.scheduler is not None  # set just above, before the app exists
        ctx.scheduler.start()
        yield
        # SIGTERM/SIGINT: no new runs; in-flight ones finish within the grace period or
        # are left to be resumed by the next server (never recorded as canceled).
        ctx.scheduler.stop()
        ctx.manager.close(grace=options.stop_grace_seconds)
        backend.close()

    app = FastAPI(
        title="Pinnace",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.state.authenticators = list(DEFAULT_AUTHENTICATORS)
    problems.install(app)
    for module in (public, account, pipelines, experiments, runs, recurring, observability, ui_api):
        app.include_router(module.router)
    for module in (v1_catalog, v1_runs, openapi):  # KFP's v1beta1 API; the OpenAPI document
        app.include_router(module.router)
    from ..ui import mount_ui  # the dashboard: after the API, whose routes come first

    mount_ui(app, ctx)
    app.add_middleware(BodyLimit, limit=options.max_upload_bytes)
    app.add_middleware(OriginCheck, trusted=trusted_origins(options.allowed_hosts))
    app.add_middleware(HostCheck, allowed=allowed_host_set(options.allowed_hosts))
    if options.access_log:
        install_access_log_handler()
        app.add_middleware(AccessLog, metrics=metrics)
    if options.path_prefix:
        app.add_middleware(PathPrefix, prefix=options.path_prefix)
    app.add_middleware(SecurityHeaders)  # outermost: on every response, refusals included
    return app


class PathPrefix:
    """Serve under `prefix` (kfp.Client keeps a host's path, Kubeflow uses /pipeline); the
    routes also answer without it, for proxies that strip the prefix."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get("root_path"):
            # Starlette strips root_path from the path when the path starts with it.
            scope = {**scope, "root_path": self.prefix}
        await self.app(scope, receive, send)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def iter_routes(app: Any) -> list[tuple[str, frozenset[str]]]:
    """Every (path, methods) the app serves, through included routers (for route-table tests)."""
    found: list[tuple[str, frozenset[str]]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif getattr(route, "methods", None):
                found.append((route.path, frozenset(route.methods)))

    walk(app.routes)
    return found
