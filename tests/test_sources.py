"""Choosing what a pipeline program compiles: its pipeline, or its lone component (kfp's rule)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pinnace.errors import PipelineSourceError
from pinnace.sources import load_pipeline_file

pytest.importorskip("kfp.compiler")

COMPONENT = """
from kfp import dsl

@dsl.component(base_image="python:3.11")
def add(a: int, b: int = 2) -> int:
    return a + b
"""


def _kfp_compile(source: Path, out: Path) -> dict:
    """`kfp dsl compile` with the real kfp, in a fresh interpreter."""
    kfp = Path(sys.executable).parent / "kfp"
    subprocess.run(
        [str(kfp), "dsl", "compile", "--py", str(source), "--output", str(out)],
        check=True,
        capture_output=True,
    )
    spec = yaml.safe_load(out.read_text())
    spec.pop("sdkVersion")
    return spec


def test_a_lone_component_compiles_as_kfp_dsl_compile_does(tmp_path: Path) -> None:
    source = tmp_path / "lone.py"
    source.write_text(COMPONENT)
    ours = load_pipeline_file(source, force_kfp_alias=True)
    ours.pop("sdkVersion")
    assert ours == _kfp_compile(source, tmp_path / "kfp.yaml")


def test_a_pipeline_wins_over_components(tmp_path: Path) -> None:
    source = tmp_path / "both.py"
    source.write_text(COMPONENT + "\n@dsl.pipeline(name='p')\ndef p():\n    add(a=1)\n")
    assert load_pipeline_file(source, force_kfp_alias=True)["pipelineInfo"]["name"] == "p"


def test_several_components_and_no_pipeline_must_be_named(tmp_path: Path) -> None:
    source = tmp_path / "two.py"
    source.write_text(COMPONENT + "\n@dsl.component\ndef sub(a: int) -> int:\n    return -a\n")
    with pytest.raises(PipelineSourceError, match="several components"):
        load_pipeline_file(source, force_kfp_alias=True)
    spec = load_pipeline_file(source, pipeline_name="sub", force_kfp_alias=True)
    assert spec["pipelineInfo"]["name"] == "sub"
