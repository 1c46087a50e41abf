"""kfp 1.x YAML components: parameter-typed files are parameters, as kfp 2.17.3 loads them.

No `from __future__ import annotations`: kfp reads the pipeline signature.
(kfp 2.17.3 refuses to compile an `inputPath` of a parameter type; Pinnace's engine would
hand such an input a file holding the value: tests/engine/test_engine_placeholders.py.)
"""

import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("kfp.compiler")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

PRODUCER = """
name: Produce
inputs:
- {name: Count, type: Integer}
outputs:
- {name: Output text, type: String}
- {name: Model, type: Model}
implementation:
  container:
    image: python:3.11
    command:
    - python
    - -c
    - |
      import sys
      open(sys.argv[2], "w").write("hello " * int(sys.argv[1]))
      open(sys.argv[3], "w").write("weights")
    - {inputValue: Count}
    - {outputPath: Output text}
    - {outputPath: Model}
"""

CONSUMER = """
name: Consume
inputs:
- {name: Text, type: String}
- {name: Model, type: Model}
outputs:
- {name: Length, type: Integer}
implementation:
  container:
    image: python:3.11
    command:
    - python
    - -c
    - |
      import sys
      text, model = sys.argv[1], open(sys.argv[2]).read()
      open(sys.argv[3], "w").write(str(len(text) + len(model)))
    - {inputValue: Text}
    - {inputPath: Model}
    - {outputPath: Length}
"""


def _pipeline(components, dsl):
    produce = components.load_component_from_text(PRODUCER)
    consume = components.load_component_from_text(CONSUMER)

    @dsl.pipeline(name="v1-parameters")
    def pipeline(count: int = 2):
        made = produce(count=count)
        consume(text=made.outputs["output_text"], model=made.outputs["model"])

    return pipeline


def test_compiles_as_kfp(tmp_path):
    import kfp.components
    import kfp.dsl
    from kfp import compiler

    from pinnace import components, dsl
    from pinnace.compiler import compile_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiler.Compiler().compile(_pipeline(kfp.components, kfp.dsl), str(tmp_path / "k.yaml"))
    import yaml

    expected = yaml.safe_load((tmp_path / "k.yaml").read_text())
    ours = compile_pipeline(_pipeline(components, dsl))
    for spec in (expected, ours):
        spec.pop("sdkVersion")
    assert ours == expected
    produce = ours["components"]["comp-produce"]["outputDefinitions"]
    assert produce["parameters"] == {"output_text": {"parameterType": "STRING"}}


def test_runs_with_files_for_the_parameters(tmp_path):
    from engine_helpers import run_kfp

    from pinnace import components, dsl
    from pinnace.compiler import compile_pipeline
    from pinnace.model.state import RunState

    spec = compile_pipeline(_pipeline(components, dsl))
    run, tasks = run_kfp("v1-parameters", tmp_path, spec=spec)
    assert run.state is RunState.SUCCEEDED, run.error
    assert tasks["produce"].outputs["parameters"]["output_text"] == "hello hello "
    assert tasks["consume"].outputs["parameters"]["length"] == 12 + 7


def test_kfp_1x_output_names_reach_the_sanitized_outputs():
    from pinnace import components, dsl
    from pinnace.compiler import compile_pipeline

    produce = components.load_component_from_text(PRODUCER)
    consume = components.load_component_from_text(CONSUMER)

    @dsl.pipeline(name="names")
    def pipeline():
        made = produce(count=1)
        # kfp 1.x code names outputs as the component.yaml does
        consume(text=made.outputs["Output text"], model=made.outputs["Model"])

    inputs = compile_pipeline(pipeline)["root"]["dag"]["tasks"]["consume"]["inputs"]
    assert inputs["parameters"]["text"]["taskOutputParameter"]["outputParameterKey"] == (
        "output_text"
    )


EXIT = """
name: Report
inputs:
- {name: note, type: String}
- {name: status, type: PipelineTaskFinalStatus}
implementation:
  container:
    image: python:3.11
    command: [echo, {inputValue: note}, {inputValue: status}]
"""


def test_a_final_status_input_of_a_yaml_component_is_filled_by_the_exit_handler(tmp_path):
    import kfp.components
    import kfp.dsl
    import yaml
    from kfp import compiler

    from pinnace import components, dsl
    from pinnace.compiler import compile_pipeline

    def build(components, dsl):
        report = components.load_component_from_text(EXIT)
        produce = components.load_component_from_text(PRODUCER)

        @dsl.pipeline(name="exit-yaml")
        def pipeline():
            with dsl.ExitHandler(report(note="done")):
                produce(count=1)

        return pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiler.Compiler().compile(build(kfp.components, kfp.dsl), str(tmp_path / "k.yaml"))
    expected = yaml.safe_load((tmp_path / "k.yaml").read_text())
    ours = compile_pipeline(build(components, dsl))
    for spec in (expected, ours):
        spec.pop("sdkVersion")
    assert ours == expected
