"""`pinnace server`: serve the KFP v2beta1 API (uvicorn) over this home's stores."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from ..errors import UserInputError
from .common import executor_options


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.command("server")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
    @click.option("--port", type=int, default=8888, show_default=True)
    @click.option(
        "--database-url", default=None, help="Metadata database [env PINNACE_DATABASE_URL]."
    )
    @click.option(
        "--artifact-root", default=None, help="Artifact folder or URL [env PINNACE_ARTIFACT_ROOT]."
    )
    @executor_options()
    @click.option(
        "--path-prefix",
        default=None,
        help="Serve under this path, e.g. /pipeline [env PINNACE_PATH_PREFIX].",
    )
    @click.option(
        "--no-auth", is_flag=True, help="No accounts (loopback only) [env PINNACE_AUTH=0]."
    )
    @click.option("--max-upload-bytes", type=int, default=None, help="Upload size limit [32 MiB].")
    @click.option(
        "--allowed-host",
        "allowed_hosts",
        multiple=True,
        help="A host name the server is reached by (repeatable; loopback names and the bound "
        "address always are; '*' allows any) [env PINNACE_ALLOWED_HOSTS, comma-separated].",
    )
    @click.option(
        "--unsandboxed",
        is_flag=True,
        default=None,
        help="Run steps without the sandbox (bubblewrap): every step can then read and change "
        "this home and its database [env PINNACE_UNSANDBOXED].",
    )
    @click.option(
        "--step-network",
        type=click.Choice(["isolated", "none", "host"]),
        default=None,
        help="A sandboxed step's network: isolated (its own, outbound only, never this "
        "machine's loopback services; needs slirp4netns), none, or host (steps reach every "
        "local service: unsafe when users share the server) [env PINNACE_STEP_NETWORK; "
        "default isolated].",
    )
    @click.pass_context
    def server_command(
        ctx: click.Context,
        host: str,
        port: int,
        database_url: str | None,
        artifact_root: str | None,
        executor: str | None,
        ray_address: str | None,
        path_prefix: str | None,
        no_auth: bool,
        max_upload_bytes: int | None,
        allowed_hosts: tuple[str, ...],
        unsandboxed: bool | None,
        step_network: str | None,
    ) -> None:
        """Serve the Kubeflow Pipelines v2beta1 API; kfp.Client(host=...) works against it."""
        config = settings(
            ctx,
            database_url=database_url,
            artifact_root=artifact_root,
            auth=False if no_auth else None,
            executor=executor,
            ray_address=ray_address,
            path_prefix=path_prefix,
            max_upload_bytes=max_upload_bytes,
            allowed_hosts=allowed_hosts or None,
            unsandboxed=unsandboxed or None,
            step_network=step_network,
        )
        options = config.server
        if not options.auth and not is_loopback(host):
            raise UserInputError(
                f"refusing to serve {host} without authentication",
                hint="turn auth back on (API tokens: `pinnace tokens create`), or bind 127.0.0.1",
            )
        import uvicorn

        from ..server import create_app
        from ..server.context import KEEP_ALIVE_SECONDS

        if host not in options.allowed_hosts and host not in ("0.0.0.0", "::"):
            options = replace(options, allowed_hosts=(*options.allowed_hosts, host))
        if not options.allowed_hosts:
            click.echo(
                "pinnace: answering only requests addressed to a loopback name; "
                "add --allowed-host NAME for the names clients use",
                err=True,
            )
        app = create_app(config, options, announce=lambda m: click.echo(m, err=True))
        click.echo(
            f"pinnace server on http://{host}:{port}{options.path_prefix} (home {config.home})",
            err=True,
        )
        # SIGTERM/SIGINT: uvicorn stops accepting, gives open requests (event streams) a few
        # seconds, then the app's shutdown stops the runs gracefully (server/run_manager.py).
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="info",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=3,
        )
