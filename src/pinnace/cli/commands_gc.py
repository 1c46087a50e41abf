"""`pinnace gc`: what killed processes and deleted runs left behind (a dry run by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .common import print_json


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.command("gc")
    @click.option("--delete", is_flag=True, help="Delete what is listed (default: only list).")
    @click.option("--artifacts", is_flag=True, help="Include the artifacts of deleted runs.")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
    @click.pass_context
    def gc_command(ctx: click.Context, delete: bool, artifacts: bool, as_json: bool) -> None:
        """List (or --delete) work folders of finished runs, half-built environments and
        leftovers of killed artifact writes; with --artifacts, deleted runs' artifacts."""
        from ..backend import open_backend
        from ..executors.limits import human_bytes
        from ..housekeeping import find_garbage, remove

        backend = open_backend(settings(ctx))
        try:
            found = find_garbage(backend.settings, backend.metadata, artifacts=artifacts)
        finally:
            backend.close()
        total = sum(g.size for g in found)
        freed = remove(found) if delete else 0
        if as_json:
            print_json(
                {
                    "deleted": delete,
                    "bytes": total,
                    "items": [
                        {"path": str(g.path), "bytes": g.size, "reason": g.reason} for g in found
                    ],
                }
            )
            return
        for g in found:
            click.echo(f"{human_bytes(g.size):>8}  {g.path}  ({g.reason})")
        if delete:
            click.echo(f"freed {human_bytes(freed)} in {len(found)} item(s)")
        else:
            click.echo(
                f"would free {human_bytes(total)} in {len(found)} item(s); "
                "run `pinnace gc --delete` to delete them"
            )
