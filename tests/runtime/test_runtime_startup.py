"""Runtime start-up: hand-parsed flags (as argparse did) and no heavy stdlib imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pinnace.runtime.main import InvocationError, parse_args


def test_flags_in_both_spellings_last_wins_unknown_ignored():
    flags = parse_args(
        [
            "--executor_input",
            "{}",
            "--other",
            "x",
            "--function_to_execute=f",
            "--component_module_path",
            "a.py",
            "--component_module_path=b.py",
        ]
    )
    assert (flags.executor_input, flags.function_to_execute) == ("{}", "f")
    assert flags.component_module_path == "b.py"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--executor_input", "{}"], "required: --function_to_execute"),
        ([], "required: --function_to_execute, --executor_input"),
        (["--function_to_execute", "f", "--executor_input"], "expected one argument"),
    ],
)
def test_missing_flags_are_invocation_errors(argv, message):
    with pytest.raises(InvocationError, match=message):
        parse_args(argv)


def test_the_runtime_copy_imports_no_argparse_tempfile_or_traceback(tmp_path):
    from pinnace.executors.runtime_copy import RUNTIME_PACKAGE, materialize_runtime

    copy = materialize_runtime(tmp_path)
    assert (copy / RUNTIME_PACKAGE / "__pycache__").is_dir()  # compiled when materialised
    code = (
        f"import sys, {RUNTIME_PACKAGE}.main; "
        "print(sorted({'argparse', 'tempfile', 'traceback', 'shutil'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
