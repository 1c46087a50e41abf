"""Printing a run's progress as it happens (to stderr, so --json output stays clean)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..engine.events import EngineEvent

_COLORS = {
    "SUCCEEDED": "green",
    "CACHED": "cyan",
    "FAILED": "red",
    "SKIPPED": "yellow",
    "CANCELED": "yellow",
    "RETRYING": "yellow",
    "RUNNING": "blue",
}
_LOG_TAIL_LINES = 40


class ProgressPrinter:
    """An event sink: one line per state change; a failed task's log tail is shown."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.started = time.monotonic()

    def __call__(self, event: EngineEvent) -> None:
        elapsed = time.monotonic() - self.started
        state = click.style(f"{event.state:<9}", fg=_COLORS.get(event.state))
        subject = event.task_name or "run"
        duration = f" {event.seconds:.1f}s" if event.seconds is not None else ""
        message = f"  {event.message}" if event.message else ""
        if event.task_name is None and event.state == "RUNNING":
            click.echo(f"run {event.run_id}", err=True)
            return
        click.echo(f"[{elapsed:6.1f}s] {state} {subject}{duration}{message}", err=True)
        if event.state == "FAILED" and event.task_name:
            self._show_log_tail(event.run_id, event.task_name)

    def _show_log_tail(self, run_id: str, task_name: str) -> None:
        log = self.logs_dir / run_id / f"{task_name}.log"
        if not log.exists():
            return
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        click.echo(f"---- last lines of {log} ----", err=True)
        for line in lines[-_LOG_TAIL_LINES:]:
            click.echo(f"  | {line}", err=True)
        click.echo("----", err=True)
