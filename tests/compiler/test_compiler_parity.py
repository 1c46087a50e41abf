"""The same pipeline source compiled by the real kfp 2.17.3 and by Pinnace gives the same IR."""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import sys
import types
import warnings
from pathlib import Path

import pytest
import yaml

pytest.importorskip("kfp.compiler")

import kfp.pipeline_spec.pipeline_spec_pb2  # noqa: F401  (loaded before aliasing kfp)
from kfp import compiler as kfp_compiler

import pinnace.compiler
import pinnace.components
import pinnace.dsl
from pinnace.compiler import Compiler, compile_documents, compile_pipeline

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipelines"
PIPELINES = sorted(p.name for p in FIXTURES.glob("p[0-9]*.py"))
_KFP_NAMES = ("kfp", "kfp.dsl", "kfp.compiler", "kfp.components")


def load_fixture(name: str, with_pinnace: bool) -> types.ModuleType:
    """Import a fixture module; with_pinnace points `kfp` at Pinnace while it loads."""
    module_name = f"{'pinnace' if with_pinnace else 'kfp'}_fixture_{name[:-3]}"
    saved = {key: sys.modules.get(key) for key in _KFP_NAMES}
    if with_pinnace:
        alias = types.ModuleType("kfp")
        alias.__path__ = []
        alias.dsl, alias.compiler = pinnace.dsl, pinnace.compiler
        alias.components = pinnace.components
        sys.modules.update(
            {
                "kfp": alias,
                "kfp.dsl": pinnace.dsl,
                "kfp.compiler": pinnace.compiler,
                "kfp.components": pinnace.components,
            }
        )
    try:
        spec = importlib.util.spec_from_file_location(module_name, FIXTURES / name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    return module


def normalize(spec: dict) -> dict:
    """Drop the SDK version; the kfp pin inside pip commands is compared as written."""
    spec = json.loads(json.dumps(spec))
    spec.pop("sdkVersion", None)
    return spec


def kfp_ir(name: str, tmp_path: Path) -> tuple[dict, str]:
    module = load_fixture(name, with_pinnace=False)
    out = tmp_path / "kfp.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kfp_compiler.Compiler().compile(module.pipeline, str(out))
    text = out.read_text()
    documents = list(yaml.safe_load_all(text))
    if len(documents) > 1:  # the platform spec travels with the IR for the comparison
        documents[0]["_platform"] = documents[1]
    return documents[0], text


def readable_diff(expected: dict, actual: dict) -> str:
    left = yaml.safe_dump(expected, sort_keys=True).splitlines()
    right = yaml.safe_dump(actual, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(left, right, "kfp", "pinnace", lineterm=""))


@pytest.mark.parametrize("name", PIPELINES)
def test_pinnace_ir_matches_kfp_field_by_field(name: str, tmp_path: Path) -> None:
    expected, _ = kfp_ir(name, tmp_path)
    actual, platform = compile_documents(load_fixture(name, with_pinnace=True).pipeline)
    if platform is not None:
        actual["_platform"] = platform
    assert actual["sdkVersion"].startswith("pinnace-")
    expected, actual = normalize(expected), normalize(actual)
    assert actual == expected, "IR differs from kfp 2.17.3:\n" + readable_diff(expected, actual)


@pytest.mark.parametrize("name", PIPELINES)
def test_yaml_file_matches_kfp_apart_from_sdk_version(name: str, tmp_path: Path) -> None:
    _, expected_text = kfp_ir(name, tmp_path)
    out = tmp_path / "pinnace.yaml"
    Compiler().compile(load_fixture(name, with_pinnace=True).pipeline, str(out))
    sdk = re.compile(r"^sdkVersion: .*$", re.M)
    assert sdk.sub("", out.read_text()) == sdk.sub("", expected_text)


def test_there_are_at_least_twelve_parity_pipelines() -> None:
    assert len(PIPELINES) >= 12


def test_pipeline_name_override_and_parameters_match_kfp(tmp_path: Path) -> None:
    name = "p04_parameter_types.py"
    out = tmp_path / "kfp.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kfp_compiler.Compiler().compile(
            load_fixture(name, False).pipeline,
            str(out),
            pipeline_name="renamed",
            pipeline_parameters={"s": "x", "i": 9, "items": [3]},
        )
    actual = compile_pipeline(
        load_fixture(name, True).pipeline,
        pipeline_name="renamed",
        pipeline_parameters={"s": "x", "i": 9, "items": [3]},
    )
    assert normalize(actual) == normalize(yaml.safe_load(out.read_text()))


def test_json_output_matches_kfp(tmp_path: Path) -> None:
    name = "p03_diamond.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kfp_compiler.Compiler().compile(
            load_fixture(name, False).pipeline, str(tmp_path / "kfp.json")
        )
    Compiler().compile(load_fixture(name, True).pipeline, str(tmp_path / "p.json"))
    expected = json.loads((tmp_path / "kfp.json").read_text())
    assert normalize(json.loads((tmp_path / "p.json").read_text())) == normalize(expected)
