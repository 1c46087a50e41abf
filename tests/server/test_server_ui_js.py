"""The dashboard's modules parse as ES modules, never use innerHTML and never give a frame
the dashboard's origin (`allow-same-origin`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "src" / "pinnace" / "ui" / "static"
MODULES = sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js"))


@pytest.mark.parametrize("name", MODULES)
def test_module_is_valid_and_safe(name: str, tmp_path: Path) -> None:
    source = (STATIC / name).read_text()
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source
    assert "allow-same-origin" not in source
    assert "eval(" not in source and "new Function" not in source
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    # --check treats .js as CommonJS; an .mjs copy is parsed as the ES module it is.
    copy = tmp_path / (Path(name).stem + ".mjs")
    copy.write_text(source)
    result = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_index_preloads_every_module() -> None:
    """index.html names every module for modulepreload, so the browser fetches them at once
    instead of one import level after another (a module left out still loads, just later)."""
    index = (STATIC / "index.html").read_text()
    missing = [m for m in MODULES if m != "app.js" and f'href="static/{m}"' not in index]
    assert not missing, f"add these to index.html's modulepreload links: {missing}"
