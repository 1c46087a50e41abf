"""scripts/kfp_corpus.py on a tiny corpus laid out as kubeflow/pipelines lays its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("kfp.compiler")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kfp_corpus.py"

PIPELINE = """
from kfp import dsl


@dsl.component
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="tiny")
def tiny(n: int):
    add(a=n, b=1)
"""

FAILING = """
from kfp import dsl


@dsl.component
def fail_op():
    raise SystemExit(1)


@dsl.pipeline(name="failing")
def failing():
    fail_op()
"""


def test_the_corpus_script_compiles_compares_and_runs(tmp_path):
    valid = tmp_path / "repo" / "test_data" / "sdk_compiled_pipelines" / "valid"
    valid.mkdir(parents=True)
    (valid / "tiny.py").write_text(PIPELINE)
    (valid / "failing.py").write_text(FAILING)
    (valid / "tiny_test.py").write_text("raise SystemExit('test files are skipped')\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--kfp-repo", str(tmp_path / "repo"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PINNACE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kfp 2.17.3 compiles 2 of 2 programs" in done.stdout
    assert "Pinnace compiles 2 identically" in done.stdout
    results = json.loads((out / "results.json").read_text())
    tiny = results["test_data/sdk_compiled_pipelines/valid/tiny.py"]
    assert tiny["compare"] == "identical"
    assert tiny["run"]["outcome"] == "SUCCEEDED"  # `n` had no default: the script gave one
    failing = results["test_data/sdk_compiled_pipelines/valid/failing.py"]
    assert failing["run"] == failing["run"] | {"outcome": "FAILED", "expected": "FAILED"}
    assert "2  as expected" in done.stdout
