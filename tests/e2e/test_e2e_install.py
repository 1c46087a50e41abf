"""Pinnace installed alone, as the README's first command does (no kfp, no test extras):
its declared dependencies are enough to compile and run pipelines, including the book's
notebook code with `import kfp`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.index


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from uv import find_uv_bin

    venv = tmp_path_factory.mktemp("plain") / "venv"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run(
        [find_uv_bin(), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env
    )
    subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "-e",
            str(ROOT),
        ],
        check=True,
        env=env,
    )
    return venv


def _pinnace(venv: Path, *args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINNACE_", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(venv / "bin" / "pinnace"), "--home", str(home), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_plain_install_has_no_kfp(plain_venv: Path) -> None:
    done = subprocess.run(
        [str(plain_venv / "bin" / "python"), "-c", "import kfp.dsl"], capture_output=True, text=True
    )
    assert done.returncode != 0


def test_the_book_notebook_compiles_unchanged_without_kfp(plain_venv: Path, tmp_path: Path):
    done = _pinnace(
        plain_venv,
        "compile",
        str(ROOT / "examples" / "book_notebook.ipynb"),
        "-o",
        "out.yaml",
        cwd=tmp_path,
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "basic_pipeline.yaml").is_file()  # the notebook's own compile call
    assert "schemaVersion: 2.1.0" in (tmp_path / "out.yaml").read_text()


def test_a_pipeline_runs_with_only_the_declared_dependencies(plain_venv: Path, tmp_path: Path):
    done = _pinnace(
        plain_venv,
        "run",
        str(ROOT / "tests" / "fixtures" / "e2e" / "small.py"),
        "-p",
        "n=1",
        "--json",
        cwd=tmp_path,
        home=tmp_path / "home",
    )
    assert done.returncode == 0, done.stderr
    assert '"state": "SUCCEEDED"' in done.stdout
