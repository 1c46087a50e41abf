"""Running the `pinnace` command as a real subprocess, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FIXTURES = REPO / "tests" / "fixtures" / "e2e"
# The command of the venv running the tests, whichever venv that is.
PINNACE = Path(sys.executable).parent / "pinnace"
EXIT_BAD_INPUT = 2
EXIT_RUN_NOT_SUCCEEDED = 1


@dataclass
class CliResult:
    """A finished `pinnace` process; `stderr_lines` holds (seconds since start, line)."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    stderr_lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        """The JSON document printed last on stdout (`--json`): it runs to the end of stdout."""
        lines = self.stdout.splitlines()
        for index, line in enumerate(lines):
            if line.startswith(("{", "[")):  # a top-level document starts at column 0
                try:
                    return json.loads("\n".join(lines[index:]))
                except ValueError:
                    continue
        raise AssertionError(f"no JSON document ends stdout\n{self.describe()}")

    def describe(self) -> str:
        return (
            f"pinnace {' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without PINNACE_* settings, so a developer's config never leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINNACE_")}
    env.update(extra)
    return env


def pinnace(
    home: Path,
    *args: str | os.PathLike[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> CliResult:
    """Run `pinnace --home HOME ARGS...`, streaming stderr so its lines carry arrival times."""
    argv = ["--home", str(home), *map(str, args)]
    started = time.monotonic()
    process = subprocess.Popen(
        [str(PINNACE), *argv],
        cwd=cwd or REPO,
        env=env or clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_lines: list[tuple[float, str]] = []
    stdout_parts: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append((time.monotonic() - started, line.rstrip("\n")))

    def read_stdout() -> None:
        assert process.stdout is not None
        stdout_parts.append(process.stdout.read())

    readers = [threading.Thread(target=read_stderr), threading.Thread(target=read_stdout)]
    for reader in readers:
        reader.start()
    try:
        returncode = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
        for reader in readers:
            reader.join()
    return CliResult(
        argv,
        returncode,
        "".join(stdout_parts),
        "".join(line + "\n" for _, line in stderr_lines),
        time.monotonic() - started,
        stderr_lines,
    )


def python_json(code: str) -> Any:
    """Run `code` in a fresh interpreter of the test venv; it prints one JSON document."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
