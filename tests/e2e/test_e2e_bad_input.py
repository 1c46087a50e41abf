"""Bad input through the `pinnace` command: a clear message, exit code 2, nothing recorded.

Fast: the fixture pipelines have no packages, so nothing is installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import (
    EXIT_BAD_INPUT,
    EXIT_RUN_NOT_SUCCEEDED,
    FIXTURES,
    CliResult,
    pinnace,
)

SMALL = FIXTURES / "small.py"
# Written by the tests: a fixture file with a syntax error would break the linters.
WRITTEN = {
    "syntax_error.py": "from pinnace import dsl\n\n\ndef broken(:\n    pass\n",
    "README.txt": "not a pipeline\n",
}

# (id, pipeline file, extra arguments, words the message must contain)
RUN_CASES = [
    ("syntax-error", "syntax_error.py", [], ["syntax_error.py:4", "syntax error"]),
    ("no-pipeline", "no_pipeline.py", [], ["no_pipeline.py", "defines no pipeline"]),
    (
        "two-pipelines",
        "two_pipelines.py",
        [],
        ["two_pipelines.py", "first_pipeline", "second_pipeline", "--pipeline"],
    ),
    (
        "missing-pipeline-function",
        "two_pipelines.py",
        ["--pipeline", "third_pipeline"],
        ["two_pipelines.py", "'third_pipeline'", "first_pipeline"],
    ),
    ("cycle", "cycle.yaml", [], ["cycle.yaml", "root.dag.tasks", "cycle", "ping", "pong"]),
    ("missing-required-parameter", "small.py", [], ["parameter 'n'", "required", "-p n="]),
    ("wrong-type-parameter", "small.py", ["-p", "n=abc"], ["parameter 'n'", "'abc'", "integer"]),
    ("float-for-int-parameter", "small.py", ["-p", "n=1.5"], ["parameter 'n'", "'1.5'"]),
    (
        "unknown-parameter",
        "small.py",
        ["-p", "n=1", "-p", "bogus=2"],
        ["parameter 'bogus'", "not a parameter", "label, n"],
    ),
    ("parameter-without-equals", "small.py", ["-p", "n"], ["NAME=VALUE", "'n'"]),
    ("parameter-without-name", "small.py", ["-p", "=3"], ["NAME=VALUE", "'=3'"]),
    (
        "missing-output",
        "missing_output.py",
        [],
        ["missing_output.py", "produce", "no output 'nope'", "Output"],
    ),
    ("nonexistent-file", "does_not_exist.py", [], ["does_not_exist.py", "no such file"]),
    (
        "yaml-not-a-pipeline",
        "not_a_pipeline.yaml",
        [],
        ["not_a_pipeline.yaml", "not a pipeline spec"],
    ),
    ("unknown-file-type", "README.txt", [], ["README.txt"]),
]


def _fixture(file: str, folder: Path) -> Path:
    if file not in WRITTEN:
        return FIXTURES / file
    path = folder / file
    path.write_text(WRITTEN[file])
    return path


def assert_clean_failure(result: CliResult, code: int, words: list[str]) -> None:
    assert result.returncode == code, result.describe()
    assert "Traceback" not in result.output, result.describe()
    for word in words:
        assert word in result.stderr, f"{word!r} missing from stderr\n{result.describe()}"


def assert_no_runs(home: Path) -> None:
    """Nothing recorded (read in-process: a `pinnace runs list` per case costs a second)."""
    from pinnace.backend import open_backend
    from pinnace.settings import Settings

    backend = open_backend(Settings.load(home=home, env={}))
    try:
        assert backend.metadata.list_runs(limit=10) == []
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("case", "file", "args", "words"), RUN_CASES, ids=[c[0] for c in RUN_CASES]
)
def test_bad_run_input(
    tmp_path: Path, case: str, file: str, args: list[str], words: list[str]
) -> None:
    path = _fixture(file, tmp_path)
    result = pinnace(tmp_path / "home", "run", path, *args)
    assert_clean_failure(result, EXIT_BAD_INPUT, ["error:", *words])
    assert result.stdout == ""
    assert_no_runs(tmp_path / "home")


@pytest.mark.parametrize(
    "file",
    [
        "syntax_error.py",
        "two_pipelines.py",
        "missing_output.py",
        "cycle.yaml",
        "not_a_pipeline.yaml",
    ],
)
def test_bad_compile_input_writes_no_file(tmp_path: Path, file: str) -> None:
    out = tmp_path / "out" / "spec.yaml"
    out.parent.mkdir()
    result = pinnace(tmp_path / "home", "compile", _fixture(file, tmp_path), "-o", out)
    assert_clean_failure(result, EXIT_BAD_INPUT, ["error:", file])
    assert list(out.parent.iterdir()) == []  # neither the spec nor a temporary file


def test_compile_rejects_an_unknown_output_suffix(tmp_path: Path) -> None:
    out = tmp_path / "spec.txt"
    result = pinnace(tmp_path / "home", "compile", SMALL, "-o", out)
    assert_clean_failure(result, EXIT_BAD_INPUT, ["spec.txt", ".yaml"])
    assert list(tmp_path.glob("spec*")) == []


def test_unknown_run_id_and_task(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert_clean_failure(
        pinnace(home, "runs", "show", "feedbeef"),
        EXIT_BAD_INPUT,
        ["'feedbeef'", "pinnace runs list"],
    )
    assert_clean_failure(pinnace(home, "logs", "feedbeef"), EXIT_BAD_INPUT, ["'feedbeef'"])
    ran = pinnace(home, "run", SMALL, "-p", "n=1", "--json")
    assert ran.returncode == 0, ran.describe()
    run_id = ran.json()["run_id"]
    assert_clean_failure(
        pinnace(home, "logs", run_id, "no-such-task"), EXIT_BAD_INPUT, [run_id, "'no-such-task'"]
    )


def test_a_component_that_raises_fails_the_run_with_its_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = pinnace(home, "run", FIXTURES / "raising.py")
    message = "ValueError: the answer 42 is not welcome here"
    assert result.returncode == EXIT_RUN_NOT_SUCCEEDED, result.describe()
    assert message in result.stderr
    assert "FAILED" in result.stdout and "explode" in result.stderr
    runs = pinnace(home, "runs", "list", "--json").json()
    assert [r["state"] for r in runs] == ["FAILED"]
    run_id = runs[0]["run_id"]
    shown = pinnace(home, "runs", "show", run_id, "--json").json()
    assert {t["name"]: t["state"] for t in shown["tasks"]} == {
        "explode": "FAILED",
        "after": "SKIPPED",
    }
    logs = pinnace(home, "logs", run_id, "explode")
    assert logs.returncode == 0, logs.describe()
    assert message in logs.stdout
    assert 'raise ValueError(f"the answer {n} is not welcome here")' in logs.stdout


def test_compile_into_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "spec.yaml"
    result = pinnace(tmp_path / "home", "compile", SMALL, "-o", out)
    assert_clean_failure(result, EXIT_BAD_INPUT, [f"cannot write {out}", "folder exists"])
    assert not out.parent.exists()
