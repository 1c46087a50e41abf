"""`pinnace runs list|show|resume|cancel` and `pinnace logs`: what the metadata store recorded."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import NotFoundError
from .common import EXIT_RUN_NOT_SUCCEEDED, print_json


def find_run_id(metadata: Any, prefix: str) -> str:
    """A full run id from an id or a unique prefix of one."""
    matches = [
        r.run_id
        for r in metadata.list_runs(limit=100_000, spec=False)
        if r.run_id.startswith(prefix)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(f"no run {prefix!r}", hint="list runs with `pinnace runs list`")
    raise NotFoundError(
        f"{prefix!r} matches {len(matches)} runs", hint="give more characters of the run id"
    )


def _stream(path: Path, chunk: int = 1 << 16) -> None:
    """Copy a log to stdout in pieces: a log of gigabytes never sits in memory whole."""
    out = sys.stdout.buffer
    with open(path, "rb") as log:
        while piece := log.read(chunk):
            out.write(piece)
    out.flush()


def _duration(run: Any) -> str:
    if run.started_at and run.finished_at:
        return f"{(run.finished_at - run.started_at).total_seconds():.1f}s"
    return "-"


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.group("runs")
    def runs() -> None:
        """Inspect and resume recorded runs."""

    @runs.command("list")
    @click.option("--limit", default=20, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def list_command(ctx: click.Context, limit: int, as_json: bool) -> None:
        """The most recent runs, newest first."""
        from ..backend import open_backend

        backend = open_backend(settings(ctx))
        try:
            records = backend.metadata.list_runs(limit=limit, spec=False)
        finally:
            backend.close()
        if as_json:
            print_json(
                [
                    {
                        "run_id": r.run_id,
                        "pipeline": r.pipeline_name,
                        "state": r.state.value,
                        "created_at": r.created_at.isoformat(),
                    }
                    for r in records
                ]
            )
            return
        for r in records:
            click.echo(
                f"{r.run_id}  {r.state.value:<9}  {_duration(r):>8}  "
                f"{r.created_at:%Y-%m-%d %H:%M:%S}  {r.pipeline_name}"
            )

    @runs.command("show")
    @click.argument("run_id")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def show_command(ctx: click.Context, run_id: str, as_json: bool) -> None:
        """A run's state, tasks and outputs."""
        from ..api import run_result
        from ..backend import open_backend

        backend = open_backend(settings(ctx))
        try:
            result = run_result(backend.metadata, find_run_id(backend.metadata, run_id))
        finally:
            backend.close()
        if as_json:
            print_json({**result.to_json(), "error": result.error})
            return
        click.echo(f"run {result.run_id}: {result.state}")
        if result.error:
            click.echo(f"  error: {result.error}")
        for task in result.tasks:
            cached = " (cached)" if task.cached else ""
            click.echo(f"  {task.name:<32} {task.state}{cached}")
            for name, value in task.outputs.items():
                click.echo(f"      {name} = {value}")
            if task.error:
                click.echo(f"      error: {task.error}")

    @runs.command("resume")
    @click.argument("run_id")
    @click.option("--parallelism", type=click.IntRange(min=1), default=None)
    @click.pass_context
    def resume_command(ctx: click.Context, run_id: str, parallelism: int | None) -> None:
        """Run the unfinished tasks of a failed or interrupted run again."""
        from ..backend import open_backend
        from ..executors.local import kill_all_tasks
        from .interrupts import interruptible
        from .progress import ProgressPrinter

        config = settings(ctx, parallelism=parallelism)
        backend = open_backend(config)
        try:
            full_id = find_run_id(backend.metadata, run_id)
            _check_resumable(backend.metadata.get_run(full_id, spec=False))
            executor = backend.executor()
            try:
                with interruptible(kill_all_tasks):
                    driver = backend.driver(executor, ProgressPrinter(config.logs_dir))
                    record = driver.drive(full_id)
            finally:
                executor.close()
        finally:
            backend.close()
        click.echo(f"run {record.run_id} {record.state.value}")
        if record.state.value != "SUCCEEDED":
            sys.exit(EXIT_RUN_NOT_SUCCEEDED)

    @runs.command("cancel")
    @click.argument("run_id")
    @click.option("--wait", "wait_s", type=float, default=None, metavar="SECONDS",
                  help="Wait up to SECONDS for the run to end.")  # fmt: skip
    @click.pass_context
    def cancel_command(ctx: click.Context, run_id: str, wait_s: float | None) -> None:
        """Cancel a running run, wherever it is driven (a `pinnace run`, a server): its
        driver sees the request at its next lease heartbeat and kills the run's tasks."""
        import time

        from ..backend import open_backend
        from ..engine.lease import request_cancel

        backend = open_backend(settings(ctx))
        try:
            full_id = find_run_id(backend.metadata, run_id)
            run = backend.metadata.get_run(full_id, spec=False)
            if run.state.terminal:
                click.echo(f"run {full_id} is already {run.state.value}")
                return
            if not request_cancel(backend.metadata, full_id):
                state = backend.metadata.get_run(full_id, spec=False).state.value
                click.echo(f"run {full_id} is {state}; only a RUNNING run can be canceled")
                sys.exit(EXIT_RUN_NOT_SUCCEEDED)
            click.echo(f"asked {run.lease_owner or run.owner} to cancel run {full_id}")
            deadline = time.monotonic() + (wait_s or 0)
            while wait_s and time.monotonic() < deadline:
                if backend.metadata.get_run(full_id, spec=False).state.terminal:
                    break
                time.sleep(0.2)
            click.echo(f"run {full_id} {backend.metadata.get_run(full_id, spec=False).state.value}")
        finally:
            backend.close()

    def _check_resumable(run: Any) -> None:
        """A live driver's run is not ours (its lease is checked again when driving), and
        a server's unfinished run is left to the server, which resumes it when it starts."""
        from ..engine.lease import SERVER
        from ..engine.settle import orphaned
        from ..errors import RunBusyError

        if run.state.terminal:
            return
        if not orphaned(run):
            raise RunBusyError(
                f"run {run.run_id} is {run.state.value}, driven by {run.lease_owner or run.owner}",
                hint="wait for it to finish, or stop that process first",
            )
        if run.lease_kind == SERVER:
            raise RunBusyError(
                f"run {run.run_id} belongs to a Pinnace server that stopped",
                hint="start the server again (`pinnace server`): it resumes its runs",
            )

    @cli.command("logs")
    @click.argument("run_id")
    @click.argument("task", required=False)
    @click.pass_context
    def logs_command(ctx: click.Context, run_id: str, task: str | None) -> None:
        """Print the logs of a run's tasks (or of one TASK)."""
        from ..backend import open_backend

        backend = open_backend(settings(ctx))
        try:
            full_id = find_run_id(backend.metadata, run_id)
            tasks = backend.metadata.list_tasks(full_id)
        finally:
            backend.close()
        if task is not None:
            tasks = [t for t in tasks if task in (t.task_name, t.display_name)]
            if not tasks:
                raise NotFoundError(
                    f"run {full_id} has no task {task!r}",
                    hint="see its tasks with `pinnace runs show RUN_ID`",
                )
        for record in tasks:
            click.echo(click.style(f"==> {record.task_name} ({record.state.value})", bold=True))
            if record.log_path:
                try:
                    _stream(Path(record.log_path))
                except FileNotFoundError:
                    click.echo("(log file missing)")
            else:
                click.echo("(no log: the task did not run here)")
