"""`pinnace users …` and `pinnace tokens …`: accounts of the server on this home."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click


@contextmanager
def _store(ctx: click.Context, settings: Callable[..., Any]) -> Iterator[Any]:
    from ..backend import open_backend

    backend = open_backend(settings(ctx), settle=False)
    try:
        yield backend.metadata
    finally:
        backend.close()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


def _when(value: datetime | None, empty: str = "-") -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else empty


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    _register_users(cli, settings)
    _register_tokens(cli, settings)


def _register_users(cli: click.Group, settings: Callable[..., Any]) -> None:
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

        password = _read_password(password_stdin)
        with _store(ctx, settings) as store:
            user = add_user(store, name, password, is_admin=is_admin, namespace=namespace)
        click.echo(
            f"user {user.name} created (namespace {user.namespace}"
            f"{', admin' if user.is_admin else ''})"
        )

    @users.command("passwd")
    @click.argument("name")
    @click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
    @click.pass_context
    def passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
        """Set user NAME's password; their login sessions end (API tokens stay)."""
        from ..server.services.accounts import set_password

        password = _read_password(password_stdin)
        with _store(ctx, settings) as store:
            ended = set_password(store, name, password)
        click.echo(f"password of {name} changed; {ended} login session(s) ended")

    @users.command("list")
    @click.pass_context
    def list_command(ctx: click.Context) -> None:
        """List users: name, namespace, role, state, creation time."""
        from ..server.services.accounts import is_disabled, list_users

        with _store(ctx, settings) as store:
            found = list_users(store)
        click.echo(f"{'NAME':<24} {'NAMESPACE':<24} {'ROLE':<6} {'STATE':<9} CREATED")
        for user in found:
            role = "admin" if user.is_admin else "user"
            state = "disabled" if is_disabled(user) else "active"
            click.echo(
                f"{user.name:<24} {user.namespace:<24} {role:<6} {state:<9} "
                f"{_when(user.created_at)}"
            )

    @users.command("disable")
    @click.argument("name")
    @click.pass_context
    def disable(ctx: click.Context, name: str) -> None:
        """Disable user NAME: no login, and every token of theirs is revoked."""
        from ..server.services.accounts import set_disabled

        with _store(ctx, settings) as store:
            revoked = set_disabled(store, name, True)
        click.echo(f"user {name} disabled; {revoked} token(s) revoked")

    @users.command("enable")
    @click.argument("name")
    @click.pass_context
    def enable(ctx: click.Context, name: str) -> None:
        """Enable a disabled user NAME again (their old tokens stay revoked)."""
        from ..server.services.accounts import set_disabled

        with _store(ctx, settings) as store:
            set_disabled(store, name, False)
        click.echo(f"user {name} enabled")


def _register_tokens(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.group("tokens")
    def tokens() -> None:
        """API tokens for `Authorization: Bearer` (kfp.Client(existing_token=...))."""

    @tokens.command("create")
    @click.option("--user", "user_name", default="admin", show_default=True)
    @click.option("--description", default="", help="What the token is for.")
    @click.option(
        "--expires",
        default=None,
        help="Lifetime: 90m, 12h, 30d, 2w, or 'never' [90d].",
    )
    @click.option("--expires-days", type=click.IntRange(min=1), default=None, hidden=True)
    @click.pass_context
    def create(
        ctx: click.Context,
        user_name: str,
        description: str,
        expires: str | None,
        expires_days: int | None,
    ) -> None:
        """Create a token and print it (once: only its hash is kept)."""
        from ..server.services.accounts import create_token, parse_lifetime

        lifetime = parse_lifetime(f"{expires_days}d" if expires_days and not expires else expires)
        with _store(ctx, settings) as store:
            token = create_token(store, user_name, description=description, expires_in=lifetime)
        click.echo(token)

    @tokens.command("list")
    @click.option("--user", "user_name", default=None, help="Only this user's tokens [all].")
    @click.pass_context
    def list_command(ctx: click.Context, user_name: str | None) -> None:
        """List tokens (never the tokens themselves): id, user, kind, dates."""
        from datetime import timezone

        from ..server.services.accounts import list_tokens

        now = datetime.now(timezone.utc)
        with _store(ctx, settings) as store:
            found = list_tokens(store, user_name)
        click.echo(
            f"{'ID':<32} {'USER':<16} {'KIND':<7} {'CREATED':<16} {'LAST USED':<16} "
            "EXPIRES  DESCRIPTION"
        )
        for t in found:
            kind = "session" if t.description == "login" else "api"
            expired = t.expires_at is not None and _aware(t.expires_at) <= now
            expires = "expired" if expired else _when(t.expires_at, "never")
            click.echo(
                f"{t.token_id:<32} {t.user_name:<16} {kind:<7} {_when(t.created_at):<16} "
                f"{_when(t.last_used_at):<16} {expires}  {t.description}"
            )

    @tokens.command("revoke")
    @click.argument("token_ids", nargs=-1, required=True)
    @click.pass_context
    def revoke(ctx: click.Context, token_ids: tuple[str, ...]) -> None:
        """Revoke the tokens TOKEN_IDS (ids from `pinnace tokens list`); takes effect at once."""
        from ..server.services.accounts import revoke_token_id

        with _store(ctx, settings) as store:
            for token_id in token_ids:
                revoke_token_id(store, token_id)
                click.echo(f"token {token_id} revoked")


def _aware(value: datetime) -> datetime:
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
