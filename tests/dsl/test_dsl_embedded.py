"""`embedded_artifact_path` and `dsl.EmbeddedInput`: files travel inside the component."""

import sys
from pathlib import Path

import pytest

from pinnace import dsl
from pinnace.compiler import compile_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))


def _components(folder: Path):
    (folder / "assets").mkdir(parents=True)
    (folder / "assets" / "greeting.txt").write_text("hello")
    (folder / "assets" / "helper_mod.py").write_text("VALUE = 41\n")

    @dsl.component(embedded_artifact_path=str(folder / "assets"))
    def from_folder(data: dsl.EmbeddedInput[dsl.Dataset], n: int) -> str:
        import os

        import helper_mod  # the embedded folder is on sys.path

        text = open(os.path.join(data.path, "greeting.txt")).read()
        return f"{text} {helper_mod.VALUE + n}"

    @dsl.component(embedded_artifact_path=str(folder / "assets" / "greeting.txt"))
    def from_file(data: dsl.EmbeddedInput[dsl.Dataset]) -> str:
        return open(data.path).read().upper()

    return from_folder, from_file


def test_embedded_files_reach_the_component(tmp_path):
    from engine_helpers import run_kfp

    from pinnace.model.state import RunState

    from_folder, from_file = _components(tmp_path)
    assert list(from_folder.component_spec.inputs) == ["n"]  # not an input of the interface

    @dsl.pipeline(name="embedded")
    def pipeline():
        from_folder(n=1)
        from_file()

    spec = compile_pipeline(pipeline)
    run, tasks = run_kfp("embedded", tmp_path / "run", spec=spec)
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["from-folder"].outputs["parameters"]["Output"] == "hello 42"
    assert tasks["from-file"].outputs["parameters"]["Output"] == "HELLO"


def test_the_archive_is_reproducible(tmp_path):
    first = _components(tmp_path / "a")[0].component_spec.container.command
    second = _components(tmp_path / "b")[0].component_spec.container.command
    assert first == second


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(Exception, match="embedded_artifact_path does not exist"):

        @dsl.component(embedded_artifact_path=str(tmp_path / "nope"))
        def comp(data: dsl.EmbeddedInput[dsl.Dataset]):
            pass
