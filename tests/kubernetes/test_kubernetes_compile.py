"""pinnace.kubernetes writes the platform spec kfp-kubernetes 2.17.3 writes, field for field."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

pytest.importorskip("kfp.kubernetes")

from pinnace import dsl, kubernetes
from pinnace.compiler import compile_documents
from pinnace.sources import load_pipeline_documents

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes" / "k8s_settings.py"


def _kfp_documents(tmp_path: Path) -> list[dict]:
    """Compile with the real kfp and kfp-kubernetes, in a fresh interpreter."""
    out = tmp_path / "kfp.yaml"
    code = (
        "import importlib.util, sys, warnings; warnings.simplefilter('ignore')\n"
        "from kfp import compiler\n"
        "spec = importlib.util.spec_from_file_location('k8s_settings', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "compiler.Compiler().compile(module.pipeline, sys.argv[2])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(FIXTURE), str(out)], check=True)
    documents = list(yaml.safe_load_all(out.read_text()))
    documents[0].pop("sdkVersion")
    return documents


def test_the_platform_spec_matches_kfp_kubernetes(tmp_path):
    expected = _kfp_documents(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec, platform = load_pipeline_documents(FIXTURE, force_kfp_alias=True)
    spec.pop("sdkVersion")
    assert spec == expected[0]
    assert platform == expected[1]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # inside the loop, the pipeline parameter and the outer task output are the loop's inputs
    inner = executors["exec-show-2"]["secretAsEnv"]
    assert inner[0]["secretNameParameter"] == {
        "componentInputParameter": "pipelinechannel--secret_param"
    }
    assert inner[1]["secretNameParameter"] == {
        "componentInputParameter": "pipelinechannel--name-of-Output"
    }


def test_the_yaml_file_has_the_platform_spec_as_its_second_document(tmp_path):
    @dsl.component
    def hello():
        print("hi")

    @dsl.pipeline(name="two-documents")
    def two():
        kubernetes.add_pod_label(hello(), "team", "ml")

    from pinnace.compiler import Compiler

    Compiler().compile(two, str(tmp_path / "out.yaml"))
    _, second = yaml.safe_load_all((tmp_path / "out.yaml").read_text())
    assert second == compile_documents(two)[1]
    with pytest.raises(Exception, match="only supported when serializing to YAML"):
        Compiler().compile(two, str(tmp_path / "out.json"))


def test_settings_on_a_pipeline_task_are_refused():
    @dsl.component
    def hello():
        print("hi")

    @dsl.pipeline
    def inner():
        hello()

    @dsl.pipeline(name="outer")
    def outer():
        kubernetes.add_pod_label(inner(), "team", "ml")

    with pytest.raises(Exception, match="only be set on primitive components"):
        compile_documents(outer)


def test_bad_arguments_fail_as_in_kfp_kubernetes():
    @dsl.component
    def hello():
        print("hi")

    @dsl.pipeline(name="bad")
    def bad():
        task = hello()
        kubernetes.set_image_pull_policy(task, "Sometimes")

    with pytest.raises(Exception, match="Invalid imagePullPolicy"):
        compile_documents(bad)
