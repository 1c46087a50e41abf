"""The runtime must run where Pinnace is not installed: stdlib and relative imports only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from runtime_harness import RUNTIME_DIR

MODULES = sorted(RUNTIME_DIR.glob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_runtime_imports_only_the_standard_library_and_itself(module: Path) -> None:
    tree = ast.parse(module.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                continue  # relative: survives the copy under another package name
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names, f"{module.name}:{node.lineno} imports {name}"


def test_runtime_has_the_expected_modules() -> None:
    names = {p.name for p in MODULES}
    assert {"__init__.py", "__main__.py", "types.py", "executor.py", "main.py"} <= names
