"""`pinnace run`: run a pipeline locally and show its progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import ParameterError
from .common import EXIT_RUN_NOT_SUCCEEDED, executor_options, print_json


def _parse_parameters(values: tuple[str, ...]) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ParameterError(
                f"expected NAME=VALUE, got {item!r}", hint="example: -p dataset_url=data.csv"
            )
        parameters[name.strip()] = value
    return parameters


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.command("run")
    @click.argument("pipeline", type=click.Path(dir_okay=False))
    @click.option(
        "-p",
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        help="A pipeline parameter (repeatable). Lists and dicts as JSON.",
    )
    @click.option(
        "--pipeline",
        "pipeline_name",
        metavar="FUNC",
        help="The pipeline function to run when the file defines several.",
    )
    @click.option("--no-cache", is_flag=True, help="Run every task; reuse no earlier outputs.")
    @click.option(
        "--cache-ttl",
        type=click.FloatRange(min=0),
        default=None,
        metavar="SECONDS",
        help="Reuse only cached outputs younger than this.",
    )
    @click.option(
        "--parallelism",
        type=click.IntRange(min=1),
        default=None,
        help="Tasks run at once [default: number of CPUs].",
    )
    @click.option(
        "--use-current-python",
        is_flag=True,
        help="Run tasks with this interpreter instead of per-task environments.",
    )
    @executor_options("a new local one")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON last.")
    @click.option(
        "--server",
        metavar="URL",
        default=None,
        help="Submit to this Pinnace (or KFP) server and follow the run there.",
    )
    @click.option(
        "--token",
        default=None,
        help="API token for --server [env PINNACE_TOKEN; config file `token`].",
    )
    @click.pass_context
    def run_command(
        ctx: click.Context,
        pipeline: str,
        params: tuple[str, ...],
        pipeline_name: str | None,
        no_cache: bool,
        cache_ttl: float | None,
        parallelism: int | None,
        use_current_python: bool,
        executor: str | None,
        ray_address: str | None,
        as_json: bool,
        server: str | None,
        token: str | None,
    ) -> None:
        """Run PIPELINE (.py, .ipynb, .yaml or .json) on this machine, or on --server."""
        from ..api import run
        from ..executors.local import kill_all_tasks
        from .interrupts import interruptible
        from .progress import ProgressPrinter

        config = settings(
            ctx,
            parallelism=parallelism,
            use_current_python=use_current_python or None,
            executor=executor,
            ray_address=ray_address,
            token=token,
        )
        if server:
            parameters = _parse_parameters(params)
            code = _run_on_server(
                server, config.token, pipeline, parameters, pipeline_name, config, as_json
            )
            sys.exit(code)
        with interruptible(kill_all_tasks):
            result = run(
                pipeline,
                _parse_parameters(params),
                pipeline_name=pipeline_name,
                cache=not no_cache,
                cache_ttl=cache_ttl,
                settings=config,
                on_event=ProgressPrinter(config.logs_dir),
            )
        if as_json:
            print_json(result.to_json())
        else:
            click.echo(f"run {result.run_id} {result.state}")
            if result.error:
                click.echo(f"  {result.error}", err=True)
        if not result.succeeded:
            sys.exit(EXIT_RUN_NOT_SUCCEEDED)


def _run_on_server(
    server: str,
    token: str | None,
    pipeline: str,
    parameters: dict[str, str],
    pipeline_name: str | None,
    config: Any,
    as_json: bool,
) -> int:
    """Compile or load PIPELINE here, submit it to `server`, print progress; the exit code."""
    from ..api import resolve_spec
    from ..client import Client, follow_run, result_document
    from ..engine.events import EngineEvent
    from ..engine.platform import PLATFORM_SPEC_KEY
    from .progress import ProgressPrinter

    spec = resolve_spec(pipeline, pipeline_name, force_kfp_alias=config.kfp_alias == "always")
    platform = spec.pop(PLATFORM_SPEC_KEY, None)
    if platform:  # as kfp's client sends a spec with a platform spec
        spec = {"pipeline_spec": spec, "platform_spec": platform}
    client = Client(server, token=token)
    submitted = client.create_run_from_pipeline_spec(spec, parameters)
    run_id = submitted["run_id"]
    printer = ProgressPrinter(config.logs_dir)
    click.echo(f"run {run_id} on {client.host}", err=True)

    def on_change(task: str | None, state: str, error: str) -> None:
        if task is not None:
            printer(EngineEvent(run_id, task, state, error))

    finished = follow_run(client, run_id, on_change)
    state = str(finished.get("state", ""))
    if as_json:
        print_json(result_document(finished))
    else:
        click.echo(f"run {run_id} {state}")
        error = (finished.get("error") or {}).get("message")
        if error:
            click.echo(f"  {error}", err=True)
    return 0 if state == "SUCCEEDED" else EXIT_RUN_NOT_SUCCEEDED
