"""The `pinnace` command. Heavy modules load inside commands, so `pinnace --help` is fast.

Exit codes (documented in the README):
  0  the run SUCCEEDED (or the command did what was asked)
  1  the run finished but did not succeed (FAILED or CANCELED)
  2  bad input: a pipeline file, spec, parameter or id that is wrong (or a run that another
     live process drives)
  3  a task environment could not be built (package or index problem)
  4  the metadata or artifact store, or Pinnace itself, failed
  130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by SIGHUP: the run is recorded as
     CANCELED and every task's process tree is killed (a second signal kills them at once)

Errors print one line (and a hint), never a traceback; PINNACE_DEBUG=1 shows the traceback
of an internal error.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import click

from .. import __version__
from ..errors import PinnaceError
from . import (
    commands_compile,
    commands_config,
    commands_exec,
    commands_gc,
    commands_run,
    commands_runs,
    commands_secrets,
    commands_server,
    commands_users,
)
from .common import EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED

DEBUG_VARIABLE = "PINNACE_DEBUG"


class _Group(click.Group):
    """Maps errors to their documented exit codes with a readable message, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PinnaceError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (cli/interrupts.py)
            click.echo(f"interrupted: {exc}" if str(exc) else "interrupted", err=True)
            sys.exit(getattr(exc, "exit_code", EXIT_INTERRUPTED))
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors and --help: click prints them itself
        except Exception as exc:
            _report_internal_error(exc)
            sys.exit(EXIT_INTERNAL_ERROR)


def _report_internal_error(exc: Exception) -> None:
    """A bug in Pinnace (not in the user's input): one line, the traceback on request."""
    import os
    import traceback

    click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
    if os.environ.get(DEBUG_VARIABLE):
        click.echo("".join(traceback.format_exception(exc)), err=True, nl=False)
    else:
        click.echo(
            f"  hint: this is a bug in Pinnace; rerun with {DEBUG_VARIABLE}=1 to see "
            "the traceback, and report it",
            err=True,
        )


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinnace")
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="Pinnace home folder [env PINNACE_HOME; default ~/.pinnace].",
)
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Pinnace: Kubeflow Pipelines without the cluster."""
    ctx.obj = {"home": home}


def _settings(ctx: click.Context, **overrides: Any) -> Any:
    from ..settings import Settings

    return Settings.load(home=ctx.obj["home"], **overrides)


commands_run.register(cli, _settings)
commands_compile.register(cli, _settings)
commands_exec.register(cli, _settings)
commands_secrets.register(cli, _settings)
commands_runs.register(cli, _settings)
commands_server.register(cli, _settings)
commands_users.register(cli, _settings)
commands_config.register(cli, _settings)
commands_gc.register(cli, _settings)


def main() -> None:
    try:
        cli(prog_name="pinnace")
    finally:
        # The command is done and has closed what it opened. Without this, the collector's
        # passes over every object left at interpreter shutdown (SQLAlchemy, protobuf, ...)
        # take ~70 ms of each `pinnace run`; atexit handlers and std stream flushes still run.
        gc.freeze()
