"""UI-2's dashboard modules parse as ES modules, stay small and never use innerHTML."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "src" / "pinnace" / "ui" / "static"
MODULES = [
    "preview.js",
    "pages/runs.js",
    "pages/run.js",
    "pages/run_form.js",
    "pages/compare.js",
    "pages/recurring.js",
    "pages/artifacts.js",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_is_valid_small_and_safe(name: str, tmp_path: Path) -> None:
    source = (STATIC / name).read_text()
    assert len(source.splitlines()) < 400
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source
    assert "allow-scripts" not in source
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    # --check treats .js as CommonJS; an .mjs copy is parsed as the ES module it is.
    copy = tmp_path / (Path(name).stem + ".mjs")
    copy.write_text(source)
    result = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
