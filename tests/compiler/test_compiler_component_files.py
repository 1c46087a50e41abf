"""Compiling a single component to YAML matches kfp 2.17.3, and loads back into Pinnace."""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from pathlib import Path

import pytest
import yaml

pytest.importorskip("kfp.compiler")

from kfp import compiler as kfp_compiler

from pinnace import components
from pinnace.compiler import Compiler

sys.path.insert(0, str(Path(__file__).parent))
from test_compiler_parity import load_fixture

_SDK = re.compile(r"^sdkVersion: .*$", re.M)


@pytest.mark.parametrize(
    ("fixture", "attribute"),
    [
        ("p36_container_component.py", "count_chars"),
        ("p37_container_placeholders.py", "show"),
        ("p27_exit_handler.py", "notify"),
        ("p34_optional_inputs.py", "describe"),
    ],
)
def test_component_yaml_matches_kfp(fixture: str, attribute: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kfp_compiler.Compiler().compile(
            getattr(load_fixture(fixture, False), attribute), str(tmp_path / "kfp.yaml")
        )
    ours = getattr(load_fixture(fixture, True), attribute)
    Compiler().compile(ours, str(tmp_path / "ours.yaml"))
    expected = _SDK.sub("", (tmp_path / "kfp.yaml").read_text())
    assert _SDK.sub("", (tmp_path / "ours.yaml").read_text()) == expected
    loaded = components.load_component_from_file(tmp_path / "ours.yaml")
    assert set(loaded.component_spec.inputs) == set(ours.component_spec.inputs)


def test_output_component_file_writes_the_component(tmp_path: Path) -> None:
    target = tmp_path / "double.yaml"
    source = tmp_path / "mod.py"
    source.write_text(
        "from pinnace import dsl\n"
        f"@dsl.component(base_image='python:3.11', output_component_file={str(target)!r})\n"
        "def double(n: int) -> int:\n    return 2 * n\n"
    )
    spec = importlib.util.spec_from_file_location("mod_output_file", source)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    written = yaml.safe_load(target.read_text())
    assert written["root"]["dag"]["tasks"]["double"]["componentRef"]["name"] == "comp-double"
