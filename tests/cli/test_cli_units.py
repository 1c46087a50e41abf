"""Unit tests of the `pinnace` command's helpers: parameters, run ids, progress, exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pinnace.cli.commands_run import _parse_parameters
from pinnace.cli.commands_runs import find_run_id
from pinnace.cli.main import _Group, cli
from pinnace.cli.progress import ProgressPrinter
from pinnace.engine.events import EngineEvent
from pinnace.errors import NotFoundError, ParameterError


def test_parse_parameters_keeps_everything_after_the_first_equals() -> None:
    parsed = _parse_parameters(("a=1", " b =x=y", "empty=", 'items=[1, "two"]'))
    assert parsed == {"a": "1", "b": "x=y", "empty": "", "items": '[1, "two"]'}


@pytest.mark.parametrize("item", ["novalue", "=3", ""])
def test_parse_parameters_rejects_items_without_name_or_equals(item: str) -> None:
    with pytest.raises(ParameterError, match="NAME=VALUE") as info:
        _parse_parameters((item,))
    assert info.value.exit_code == 2 and info.value.hint


@dataclass
class _Run:
    run_id: str


class _Metadata:
    def __init__(self, *ids: str) -> None:
        self.ids = ids
        self.specs_asked: list[bool] = []

    def list_runs(self, limit: int, *, spec: bool = True) -> list[_Run]:
        self.specs_asked.append(spec)
        return [_Run(i) for i in self.ids][:limit]


def test_find_run_id_by_full_id_or_unique_prefix() -> None:
    metadata = _Metadata("abc123", "abd456", "ffff")
    assert find_run_id(metadata, "abc123") == "abc123"
    assert find_run_id(metadata, "abd") == "abd456"
    with pytest.raises(NotFoundError, match="matches 2 runs"):
        find_run_id(metadata, "ab")
    with pytest.raises(NotFoundError, match="no run 'zz'"):
        find_run_id(metadata, "zz")
    assert not any(metadata.specs_asked), "a run-id lookup decodes no pipeline spec"


def test_progress_printer_writes_state_lines_and_a_failed_tasks_log_tail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "r1" / "train.log"
    log.parent.mkdir()
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "KeyError: 'x'\n")
    printer = ProgressPrinter(tmp_path)
    printer(EngineEvent("r1", None, "RUNNING"))
    printer(EngineEvent("r1", "train", "RUNNING", "started"))
    printer(EngineEvent("r1", "train", "FAILED", "exited with code 1", seconds=2.5))
    captured = capsys.readouterr()
    assert captured.out == ""  # progress never mixes with --json on stdout
    lines = captured.err.splitlines()
    assert lines[0] == "run r1"
    assert lines[1].endswith("RUNNING   train  started")
    assert lines[2].endswith("FAILED    train 2.5s  exited with code 1")
    assert "  | KeyError: 'x'" in lines
    assert "  | line 99" in lines and "  | line 0" not in lines  # only the tail


def test_errors_map_to_documented_exit_codes_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(tmp_path), "runs", "show", "nope"])
    assert result.exit_code == 2
    assert "error: no run 'nope'" in result.output
    assert "Traceback" not in result.output


def test_every_command_is_registered() -> None:
    assert isinstance(cli, click.Group)
    assert {"run", "compile", "runs", "logs"} <= set(cli.commands)
    runs = cli.commands["runs"]
    assert isinstance(runs, click.Group)
    assert {"list", "show", "resume"} <= set(runs.commands)


def _failing_group() -> click.Group:
    group = _Group("pinnace")

    @group.command()
    def boom() -> None:
        raise RuntimeError("kaput")

    @group.command()
    def usage() -> None:
        raise click.UsageError("bad usage")

    return group


def test_an_internal_error_is_one_line_with_exit_code_4(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PINNACE_DEBUG", raising=False)
    result = CliRunner().invoke(_failing_group(), ["boom"])
    assert result.exit_code == 4
    assert "error: internal error: RuntimeError: kaput" in result.output
    assert "PINNACE_DEBUG=1" in result.output
    assert "Traceback" not in result.output


def test_pinnace_debug_shows_the_traceback_of_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PINNACE_DEBUG", "1")
    result = CliRunner().invoke(_failing_group(), ["boom"])
    assert result.exit_code == 4
    assert "Traceback" in result.output and 'raise RuntimeError("kaput")' in result.output


def test_usage_errors_stay_click_usage_errors() -> None:
    result = CliRunner().invoke(_failing_group(), ["usage"])
    assert result.exit_code == 2
    assert "Error: bad usage" in result.output
    assert "internal error" not in result.output
