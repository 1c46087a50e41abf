"""What every `pinnace` command shares: the exit codes (see cli.main) and JSON output."""

from __future__ import annotations

import json
from typing import Any

import click

EXIT_RUN_NOT_SUCCEEDED = 1
EXIT_INTERNAL_ERROR = 4
EXIT_INTERRUPTED = 130


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str))
