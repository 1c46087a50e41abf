"""What every `pinnace` command shares: the exit codes (see cli.main) and JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

EXIT_RUN_NOT_SUCCEEDED = 1
EXIT_INTERNAL_ERROR = 4
EXIT_INTERRUPTED = 130


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def executor_options(ray_default: str = "") -> Callable[[F], F]:
    """`--executor` and `--ray-address`, as `pinnace run` and `pinnace server` take them;
    `ray_default` says, in the help, which cluster serves when no address is given."""
    default_note = f"; {ray_default}" if ray_default else ""

    def decorate(command: F) -> F:
        command = click.option(
            "--ray-address",
            metavar="HOST:PORT",
            default=None,
            help=f"The Ray cluster for --executor ray [env PINNACE_RAY_ADDRESS{default_note}].",
        )(command)
        return click.option(
            "--executor",
            type=click.Choice(["local", "ray"]),
            default=None,
            help="Where tasks run: this machine or a Ray cluster [env PINNACE_EXECUTOR; local].",
        )(command)

    return decorate
