"""Loading components (kfp 2.x IR, kfp 1.x YAML, files, URLs) and the kfp 1.x function API."""

from __future__ import annotations

import functools
import http.server
import sys
import threading
import warnings
from pathlib import Path

import pytest
import yaml

from pinnace import components, dsl
from pinnace.compiler import Compiler, compile_pipeline
from pinnace.errors import CompileError, PipelineSourceError, SpecError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipelines"
sys.path.insert(0, str(FIXTURES))
from v1_book_funcs import download_dataset, process_data, train_model  # noqa: E402


def test_v1_function_api_outputs_and_positional_arguments(tmp_path: Path) -> None:
    download_op = components.create_component_from_func(download_dataset, base_image="python:3.9")
    process_op = components.func_to_container_op(process_data, packages_to_install=["pandas"])
    train_op = components.create_component_from_func(
        train_model, output_component_file=str(tmp_path / "train.yaml")
    )
    assert yaml.safe_load((tmp_path / "train.yaml").read_text())["name"] == "Train model"

    @dsl.pipeline(name="book")
    def book():
        download = download_op()
        processed = process_op(download.output)  # kfp 1.x positional style
        train_op(processed.outputs["df_training_data"])

    ir = compile_pipeline(book)
    tasks = ir["root"]["dag"]["tasks"]
    assert tasks["process-data"]["inputs"]["artifacts"]["df_all_data"] == {
        "taskOutputArtifact": {
            "producerTask": "download-dataset",
            "outputArtifactKey": "df_all_data",
        }
    }
    assert tasks["train-model"]["dependentTasks"] == ["process-data"]
    comp = ir["components"]["comp-process-data"]
    # v1 file outputs are artifacts (binary files such as models travel unchanged)
    assert set(comp["outputDefinitions"]["artifacts"]) == {"df_training_data", "df_test_data"}
    assert comp["inputDefinitions"]["parameters"]["test_size"]["defaultValue"] == 0.2
    assert "model" in ir["components"]["comp-train-model"]["outputDefinitions"]["artifacts"]


def test_a_function_component_text_is_its_v1_spec_as_written_to_the_file(tmp_path: Path) -> None:
    written = components.create_component_from_func(
        process_data, output_component_file=str(tmp_path / "process.yaml")
    )
    unwritten = components.create_component_from_func(process_data)
    text = (tmp_path / "process.yaml").read_text()
    assert written.component_text == unwritten.component_text == text
    document = yaml.safe_load(unwritten.component_text)
    assert document["name"] == "Process data"
    assert [i["name"] for i in document["inputs"]] == ["df_all_data", "test_size"]
    container = document["implementation"]["container"]
    assert "def process_data(" in " ".join(map(str, container["command"]))
    assert components.load_component_from_text(text).component_text == text


def test_v1_output_is_ambiguous_with_several_outputs() -> None:
    process_op = components.create_component_from_func(process_data)

    @dsl.pipeline(name="ambiguous")
    def p():
        process_op(components.create_component_from_func(download_dataset)().output).output

    with pytest.raises(CompileError, match="ambiguous"):
        compile_pipeline(p)


def test_v1_yaml_from_file_and_bad_files(tmp_path: Path) -> None:
    shout = components.load_component_from_file(FIXTURES / "v1_shout.yaml")
    assert list(shout.component_spec.inputs) == ["input_text", "times", "prefix", "flag"]
    assert shout.component_spec.inputs["times"].default == 1
    assert shout.component_spec.inputs["flag"].default is True
    with pytest.raises(PipelineSourceError):
        components.load_component_from_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: x\nimplementation: {graph: {}}\n")
    with pytest.raises(SpecError, match=r"bad\.yaml"):
        components.load_component_from_file(tmp_path / "bad.yaml")


def test_load_component_from_url_http_and_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text((FIXTURES / "v1_shout.yaml").read_text())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/c.yaml"
        assert components.load_component_from_url(url).name == "shout-text"
        with pytest.raises(PipelineSourceError):
            components.load_component_from_url(url.replace("c.yaml", "nope.yaml"))
    finally:
        server.shutdown()
    assert components.load_component_from_url((tmp_path / "c.yaml").as_uri()).name == "shout-text"


def test_kfp2_component_yaml_round_trip_matches_kfp(tmp_path: Path) -> None:
    kfp_dsl = pytest.importorskip("kfp.dsl")
    from kfp import compiler as kfp_compiler
    from kfp import components as kfp_components

    source = tmp_path / "comp.py"
    source.write_text(
        "def scale(x: float, factor: int = 2) -> float:\n"
        '    """Scales a number."""\n'
        "    return x * factor\n"
    )
    namespace: dict = {}
    exec(compile(source.read_text(), str(source), "exec", dont_inherit=True), namespace)
    import linecache

    linecache.updatecache(str(source))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kfp_comp = kfp_dsl.component(namespace["scale"], base_image="python:3.11")
        kfp_compiler.Compiler().compile(kfp_comp, str(tmp_path / "kfp.yaml"))
    ours = dsl.component(namespace["scale"], base_image="python:3.11")
    Compiler().compile(ours, str(tmp_path / "ours.yaml"))
    expected = yaml.safe_load((tmp_path / "kfp.yaml").read_text())
    actual = yaml.safe_load((tmp_path / "ours.yaml").read_text())
    expected.pop("sdkVersion"), actual.pop("sdkVersion")
    assert actual == expected

    loaded = components.load_component_from_file(tmp_path / "kfp.yaml")
    assert loaded.description == "Scales a number."
    kfp_loaded = kfp_components.load_component_from_file(str(tmp_path / "kfp.yaml"))

    # kfp cannot read string annotations, so the pipelines are compiled without the
    # `from __future__ import annotations` of this module
    code = "def reuse(x: float = 1.0):\n    comp(x=x)\n"
    pipelines = {}
    for key, decorator, comp in (
        ("kfp", kfp_dsl.pipeline, kfp_loaded),
        ("ours", dsl.pipeline, loaded),
    ):
        scope = {"comp": comp}
        exec(compile(code, "<reuse>", "exec", dont_inherit=True), scope)
        pipelines[key] = decorator(scope["reuse"])
    kfp_compiler.Compiler().compile(pipelines["kfp"], str(tmp_path / "kfp_p.yaml"))
    expected = yaml.safe_load((tmp_path / "kfp_p.yaml").read_text())
    actual = compile_pipeline(pipelines["ours"])
    expected.pop("sdkVersion"), actual.pop("sdkVersion")
    assert actual == expected
