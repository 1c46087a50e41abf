"""`@dsl.notebook_component`: a notebook embedded in the component, run with nbclient."""

import sys
from pathlib import Path

import pytest

from pinnace import dsl
from pinnace.compiler import compile_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")


def _notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    defaults = nbformat.v4.new_code_cell('text = "default"\nsuffix = "!"')
    defaults.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A notebook"),
        defaults,
        nbformat.v4.new_code_cell(
            "print('writing', text)\nopen(out, 'w').write(text.upper() + suffix)"
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def test_a_notebook_runs_with_injected_parameters(tmp_path):
    from engine_helpers import run_kfp

    from pinnace.model.state import RunState

    notebook = _notebook(tmp_path / "nb" / "shout.ipynb")

    @dsl.notebook_component(notebook_path=str(notebook))
    def shout(text: str, out: dsl.OutputPath(str)):
        dsl.run_notebook(text=text, out=out)

    @dsl.pipeline(name="notebook")
    def pipeline(text: str = "hi"):
        shout(text=text)

    spec = compile_pipeline(pipeline)
    command = spec["deploymentSpec"]["executors"]["exec-shout"]["container"]["command"]
    assert any("nbclient" in part for part in command)  # kfp's default packages
    run, tasks = run_kfp("notebook", tmp_path / "run", {"text": "hey"}, spec=spec)
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["shout"].outputs["parameters"]["out"] == "HEY!"
    assert "[cell" in open(tasks["shout"].log_path).read()


def test_bad_notebook_paths_fail_as_in_kfp(tmp_path):
    with pytest.raises(Exception, match="Notebook path does not exist"):
        dsl.notebook_component(notebook_path=str(tmp_path / "none.ipynb"))(lambda: None)
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(Exception, match=r"expected \.ipynb file"):
        dsl.notebook_component(notebook_path=str(tmp_path / "plain.txt"))(lambda: None)


def test_run_notebook_outside_a_component_raises():
    with pytest.raises(NotImplementedError):
        dsl.run_notebook(a=1)
