"""`pinnace users add` and `pinnace tokens create`: accounts of the server on this home."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click


def _store(ctx: click.Context, settings: Callable[..., Any]) -> Any:
    from ..backend import open_backend

    return open_backend(settings(ctx), settle=False)


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.group("users")
    def users() -> None:
        """Server accounts."""

    @users.command("add")
    @click.argument("name")
    @click.option("--admin", "is_admin", is_flag=True, help="The user sees and manages everything.")
    @click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
    @click.option("--namespace", default=None, help="The user's namespace [the user name].")
    @click.pass_context
    def add(
        ctx: click.Context, name: str, is_admin: bool, password_stdin: bool, namespace: str | None
    ) -> None:
        """Create user NAME (prompts for the password)."""
        from ..server.services.accounts import add_user

        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        backend = _store(ctx, settings)
        try:
            user = add_user(
                backend.metadata, name, password, is_admin=is_admin, namespace=namespace
            )
        finally:
            backend.close()
        click.echo(
            f"user {user.name} created (namespace {user.namespace}"
            f"{', admin' if user.is_admin else ''})"
        )

    @cli.group("tokens")
    def tokens() -> None:
        """API tokens for `Authorization: Bearer` (kfp.Client(existing_token=...))."""

    @tokens.command("create")
    @click.option("--user", "user_name", default="admin", show_default=True)
    @click.option("--description", default="", help="What the token is for.")
    @click.option("--expires-days", type=click.IntRange(min=1), default=None)
    @click.pass_context
    def create(
        ctx: click.Context, user_name: str, description: str, expires_days: int | None
    ) -> None:
        """Create a token and print it (once: only its hash is kept)."""
        from datetime import timedelta

        from ..server.services.accounts import create_token

        backend = _store(ctx, settings)
        try:
            token = create_token(
                backend.metadata,
                user_name,
                description=description,
                expires_in=timedelta(days=expires_days) if expires_days else None,
            )
        finally:
            backend.close()
        click.echo(token)
