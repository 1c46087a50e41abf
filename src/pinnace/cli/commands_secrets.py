"""`pinnace secrets …` and `pinnace configmaps …`: what kfp-kubernetes settings read locally."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..errors import UserInputError


def _pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserInputError(f"expected KEY=VALUE, got {key!r}", hint="e.g. password=s3cret")
        values[key] = value
    return values


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    for command, folder, kind in (
        ("secrets", "secrets", "secret"),
        ("configmaps", "configmaps", "config map"),
    ):
        cli.add_command(_group(command, folder, kind, settings))


def _group(command: str, folder: str, kind: str, settings: Callable[..., Any]) -> click.Group:
    @click.group(
        command,
        help=f"Local {kind}s for kfp-kubernetes settings (kubernetes.use_"
        f"{kind.replace(' ', '_')}_as_env): stored under the home, readable only by you.",
    )
    def group() -> None:
        pass

    def store(ctx: click.Context) -> Any:
        from ..stores.secrets import LocalSecretStore

        return LocalSecretStore(settings(ctx).home / folder, kind)

    @group.command("set")
    @click.argument("name")
    @click.argument("pairs", nargs=-1, required=True)
    @click.option("--replace", is_flag=True, help="Drop the keys not given.")
    @click.pass_context
    def set_command(ctx: click.Context, name: str, pairs: tuple[str, ...], replace: bool) -> None:
        """Add KEY=VALUE pairs to NAME (values are never printed)."""
        values = _pairs(pairs)
        store(ctx).set(name, values, replace=replace)
        click.echo(f"{kind} {name}: set {', '.join(sorted(values))}")

    @group.command("list")
    @click.pass_context
    def list_command(ctx: click.Context) -> None:
        """Names and keys (never values)."""
        found = store(ctx)
        for name in found.names():
            click.echo(f"{name}\t{', '.join(sorted(found.get(name)))}")

    @group.command("delete")
    @click.argument("name")
    @click.pass_context
    def delete_command(ctx: click.Context, name: str) -> None:
        """Delete NAME."""
        store(ctx).delete(name)
        click.echo(f"{kind} {name}: deleted")

    return group
