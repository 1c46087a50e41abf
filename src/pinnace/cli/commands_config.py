"""`pinnace config`: every setting, its value and where it came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .common import print_json


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.command("config")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")
    @click.pass_context
    def config_command(ctx: click.Context, as_json: bool) -> None:
        """Show every setting with its source: flag, PINNACE_* variable, config file, default.

        The config file is <home>/config.toml (or $PINNACE_CONFIG); server options go in
        its [server] table. Secrets are shown as ***.
        """
        from ..settings import config_path

        config = settings(ctx)
        rows = config.described()
        if as_json:
            print_json(
                {
                    "config_file": str(config.config_file) if config.config_file else None,
                    "settings": rows,
                }
            )
            return
        if config.config_file is not None:
            click.echo(f"config file: {config.config_file}")
        else:
            import os

            click.echo(f"config file: none ({config_path(config.home, os.environ)} does not exist)")
        width = max(len(r["name"]) for r in rows)
        for row in rows:
            value = "(none)" if row["value"] is None else row["value"]
            if isinstance(value, list):
                value = ",".join(value) or "(none)"
            click.echo(f"{row['name']:<{width}}  {value}  [{row['source']}]")
