"""Run kfp-compiled components through kfp's executor and ours; outputs must match."""

# Components and annotations are written the way kfp users write them (typing.List, Optional).
# ruff: noqa: UP006, UP035, UP045

# No `from __future__ import annotations` here: kfp reads these components' annotations.
import functools
import subprocess
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

import pytest
from kfp import dsl
from kfp.dsl import (
    HTML,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
)
from runtime_harness import Runner, compile_program, copy_runtime, make_bare_venv

OUR_MODES = ("standin", "realkfp")
component = functools.partial(dsl.component, base_image="python:3.11")


@component
def every_parameter(
    s: str,
    i: int,
    f: float,
    b: bool,
    items: list,
    mapping: dict,
    ints: List[int],
    scores: Dict[str, float],
    greeting_path: OutputPath(str),
    count_path: OutputPath(int),
    maybe: Optional[str] = None,
    default_int: int = 7,
    default_float: float = 0.5,
) -> NamedTuple(
    "Outputs",
    [("total", float), ("summary", str), ("flags", list), ("cfg", dict), ("ok", bool)],
):
    import collections

    with open(greeting_path, "w") as f_out:
        f_out.write(f"hello {s}")
    with open(count_path, "w") as f_out:
        f_out.write(str(len(items)))
    outputs = collections.namedtuple("Outputs", ["total", "summary", "flags", "cfg", "ok"])
    summary = f"{s}|{i}|{f}|{b}|{maybe}|{default_int}|{default_float}|{sorted(scores)}"
    return outputs(i + f + sum(ints), summary, [b, None, 1.5], dict(mapping, n=i), not b)


@component
def artifacts_in_and_out(
    data: Input[Dataset],
    raw: InputPath("Dataset"),
    model: Output[Model],
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    page: Output[HTML],
    notes: Output[Markdown],
    raw_copy: OutputPath("Dataset"),
) -> str:
    with open(data.path) as f:
        text = f.read()
    with open(raw) as f:
        raw_text = f.read()
    model.framework = "sklearn"
    model.metadata["rows"] = len(text.splitlines())
    with open(model.path, "w") as f:
        f.write(text.upper())
    metrics.log_metric("accuracy", 0.9)
    metrics.log_metric("loss", 1)
    classification.log_roc_curve([0.0, 0.5], [0.1, 0.9], [1.0, 0.5])
    classification.log_roc_data_point(fpr=1.0, tpr=1.0, threshold=0.0)
    classification.log_confusion_matrix(["a", "b"], [[3, 1], [0, 4]])
    classification.log_confusion_matrix_cell("a", "b", 2)
    with open(page.path, "w") as f:
        f.write("<h1>hi</h1>")
    with open(notes.path, "w") as f:
        f.write("# notes")
    with open(raw_copy, "w") as f:
        f.write(raw_text + "!")
    return f"{type(data).__name__}:{data.name}:{data.metadata}"


@component
def returns_model_payload(x: int) -> Model:
    return f"weights-{x}"


@component
def returns_artifact_object() -> Dataset:
    import os

    dataset = Dataset(uri=dsl.get_uri("data"), metadata={"made": "here"})
    os.makedirs(os.path.dirname(dataset.path), exist_ok=True)
    with open(dataset.path, "w") as f:
        f.write("rows")
    return dataset


@component
def list_of_artifacts(datasets: Input[List[Dataset]]) -> str:
    return ",".join(f"{type(d).__name__}:{d.name}" for d in datasets)


@component
def optional_artifact(x: int, maybe: Optional[Input[Dataset]] = None) -> str:
    return f"{x}:{maybe is None}"


@component
def fails(x: int) -> int:
    def inner(value):
        raise ValueError(f"bad value {value}")

    return inner(x)


@component
def wrong_return_type() -> int:
    return "not an int"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    tmp = tmp_path_factory.mktemp("runtime")
    bare_python = make_bare_venv(tmp / "bare-venv")
    probe = subprocess.run([str(bare_python), "-c", "import kfp"], capture_output=True)
    assert probe.returncode != 0, "the bare venv must not see kfp"
    return Runner(tmp, bare_python, copy_runtime(tmp / "runtime-copy"))


@pytest.fixture(scope="module")
def inputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "raw.txt").write_text("raw")
    return folder


def _artifact(path: Path, name: str, title: str, metadata: Optional[dict] = None) -> dict:
    return {
        "name": name,
        "uri": str(path),
        "type": {"schemaTitle": title, "schemaVersion": "0.0.1"},
        "metadata": metadata or {},
    }


def _assert_same_as_kfp(runner: Runner, component, **kwargs) -> dict:
    program = compile_program(component)
    expected = runner.run("kfp", program, **kwargs)
    assert expected.returncode == 0, expected.stderr
    for mode in OUR_MODES:
        ours = runner.run(mode, program, **kwargs)
        assert ours.returncode == 0, f"{mode}: {ours.stderr}"
        assert ours.executor_output == expected.executor_output, mode
        assert ours.output_files() == expected.output_files(), mode
    return expected.executor_output


def test_every_parameter_type_defaults_and_named_tuple_match_kfp(runner: Runner) -> None:
    parameters = {
        "s": "world",
        "i": 3,
        "f": 1.25,
        "b": True,
        "items": [1, "two", None],
        "mapping": {"k": [1, 2]},
        "ints": [1, 2, 3],
        "scores": {"z": 0.1, "a": 0.2},
        "default_float": 2.0,
    }
    output = _assert_same_as_kfp(runner, every_parameter, parameters=parameters)
    values = output["parameterValues"]
    assert values["total"] == 10.25
    assert values["summary"] == "world|3|1.25|True|None|7|2.0|['a', 'z']"
    assert values["cfg"] == {"k": [1, 2], "n": 3}


def test_input_and_output_artifacts_and_metrics_match_kfp(runner: Runner, inputs_dir) -> None:
    artifacts = {
        "data": [_artifact(inputs_dir / "data.csv", "data", "system.Dataset", {"src": "x"})],
        "raw": [_artifact(inputs_dir / "raw.txt", "raw", "system.Dataset")],
    }
    output = _assert_same_as_kfp(runner, artifacts_in_and_out, artifacts=artifacts)
    assert output["parameterValues"]["Output"] == "Dataset:data:{'src': 'x'}"
    produced = output["artifacts"]
    assert produced["model"]["artifacts"][0]["metadata"] == {"framework": "sklearn", "rows": 2}
    assert produced["metrics"]["artifacts"][0]["metadata"] == {"accuracy": 0.9, "loss": 1}
    matrix = produced["classification"]["artifacts"][0]["metadata"]["confusionMatrix"]
    assert matrix["rows"] == [{"row": [3, 2]}, {"row": [0, 4]}]


def test_returned_payload_and_returned_artifact_match_kfp(runner: Runner) -> None:
    output = _assert_same_as_kfp(runner, returns_model_payload, parameters={"x": 4})
    assert output["artifacts"]["Output"]["artifacts"][0]["uri"] == "<ROOT>/artifacts/Output"
    output = _assert_same_as_kfp(runner, returns_artifact_object)
    returned = output["artifacts"]["Output"]["artifacts"][0]
    assert returned == {"name": "", "uri": "<ROOT>/data", "metadata": {"made": "here"}}


def test_list_and_optional_artifact_inputs_match_kfp(runner: Runner, inputs_dir) -> None:
    datasets = [
        _artifact(inputs_dir / "data.csv", "first", "system.Dataset"),
        _artifact(inputs_dir / "raw.txt", "second", "system.Artifact"),
    ]
    output = _assert_same_as_kfp(runner, list_of_artifacts, artifacts={"datasets": datasets})
    assert output["parameterValues"]["Output"] == "Dataset:first,Artifact:second"
    output = _assert_same_as_kfp(runner, optional_artifact, parameters={"x": 1})
    assert output["parameterValues"]["Output"] == "1:True"


@pytest.mark.parametrize("mode", ("kfp", *OUR_MODES))
def test_component_exception_exits_nonzero_with_original_traceback(runner, mode) -> None:
    result = runner.run(mode, compile_program(fails), parameters={"x": 5})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "in inner" in result.stderr and "ValueError: bad value 5" in result.stderr
    assert not (result.root / "executor_output.json").exists()


@pytest.mark.parametrize("mode", ("kfp", *OUR_MODES))
def test_wrong_return_type_fails_like_kfp(runner: Runner, mode: str) -> None:
    result = runner.run(mode, compile_program(wrong_return_type))
    assert result.returncode == 1
    assert "returned value of type <class 'str'>; want type <class 'int'>" in result.stderr


def test_exit_handler_final_status_is_passed(runner: Runner) -> None:
    program = compile_program(every_parameter)
    text = (
        "import kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\nfrom typing import *\n\n"
        "def report(status: dsl.PipelineTaskFinalStatus, note: str = 'n') -> str:\n"
        "    return f'{status.state}|{status.pipeline_task_name}|{status.error_code}|"
        "{status.error_message}|{status.pipeline_job_resource_name}|{note}'\n"
    )
    program.function, program.spec = "report", {}
    status = {
        "state": "FAILED",
        "pipelineJobResourceName": "runs/1",
        "pipelineTaskName": "train",
        "error": {"code": 2, "message": "boom"},
    }
    outputs = [
        runner.run(mode, program, parameters={"status": status}, module_text=text)
        for mode in ("kfp", *OUR_MODES)
    ]
    assert {r.returncode for r in outputs} == {0}, [r.stderr for r in outputs]
    values = [r.executor_output["parameterValues"]["Output"] for r in outputs]
    assert values == ["FAILED|train|2|boom|runs/1|n"] * 3


@pytest.mark.parametrize("mode", OUR_MODES)
def test_decorators_left_in_the_module_are_pass_through(runner: Runner, mode: str) -> None:
    program = compile_program(returns_model_payload)
    text = program.text.replace(
        "def returns_model_payload",
        "@dsl.component(base_image='python:3.11')\ndef returns_model_payload",
    )
    text += "\n@dsl.component\ndef other() -> str:\n    return 'x'\n"
    result = runner.run(mode, program, parameters={"x": 2}, module_text=text)
    assert result.returncode == 0, result.stderr
    assert result.output_files() == {"artifacts/Output": "weights-2"}


@pytest.mark.parametrize(
    ("executor_input", "function", "message"),
    [
        ("{not json", "f", "--executor_input is not valid JSON"),
        ('{"inputs": {}}', "f", "must be a JSON object with an 'outputs' object"),
        ('{"outputs": {"outputFile": "/tmp/x.json"}}', "missing", "function 'missing' not"),
    ],
)
def test_invalid_invocation_exits_2_with_a_message(
    runner, tmp_path, executor_input, function, message
):
    module = tmp_path / "component.py"
    module.write_text("def f():\n    return None\n")
    command, env = runner.command("standin")
    command += [
        "--executor_input",
        executor_input,
        "--function_to_execute",
        function,
        "--component_module_path",
        str(module),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_module_level_error_is_a_component_failure(runner: Runner) -> None:
    program = compile_program(returns_model_payload)
    text = "import kfp\nimport no_such_package_for_pinnace\n" + program.text
    result = runner.run("standin", program, parameters={"x": 1}, module_text=text)
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'no_such_package_for_pinnace'" in result.stderr


def test_without_kfp_the_standin_is_used(runner: Runner) -> None:
    program = compile_program(returns_model_payload)
    text = program.text + (
        "\ndef which() -> str:\n"
        "    from kfp.dsl.types.artifact_types import Artifact as A\n"
        "    return f'{kfp.__version__}|{A is dsl.Artifact}'\n"
    )
    program.function = "which"
    result = runner.run("standin", program, module_text=text)
    assert result.returncode == 0, result.stderr
    assert result.executor_output["parameterValues"]["Output"] == "0.0.0+pinnace-standin|True"


def test_with_kfp_importable_the_real_kfp_is_not_shadowed(runner: Runner) -> None:
    import kfp

    program = compile_program(returns_model_payload)
    text = program.text + (
        "\ndef which(d: Input[Dataset]) -> str:\n"
        "    return f'{kfp.__version__}|{type(d).__module__}'\n"
    )
    program.function = "which"
    artifact = _artifact(Path("/tmp/x"), "d", "system.Dataset")
    result = runner.run("realkfp", program, module_text=text, artifacts={"d": [artifact]})
    assert result.returncode == 0, result.stderr
    assert result.executor_output["parameterValues"]["Output"] == (
        f"{kfp.__version__}|kfp.dsl.types.artifact_types"
    )


def _other_interpreters() -> list[Path]:
    """Pythons 3.9+ found on this machine (pyenv or PATH) that cannot import kfp."""
    candidates = sorted((Path.home() / ".pyenv" / "versions").glob("3.*/bin/python3"))
    found = {}
    for candidate in candidates:
        probe = subprocess.run(
            [str(candidate), "-c", "import sys, kfp"], capture_output=True, text=True
        )
        version = candidate.parent.parent.name
        if "No module named 'kfp'" in probe.stderr and tuple(map(int, version.split(".")[:2])) >= (
            3,
            9,
        ):
            found[version] = candidate
    return list(found.values())


@pytest.mark.parametrize("python", _other_interpreters() or [None], ids=str)
def test_standin_runs_on_every_supported_python(runner: Runner, python, inputs_dir) -> None:
    if python is None:
        pytest.skip("no other Python 3.9+ interpreters on this machine")
    other = Runner(runner.tmp, python, runner.runtime_path)
    artifacts = {
        "data": [_artifact(inputs_dir / "data.csv", "data", "system.Dataset")],
        "raw": [_artifact(inputs_dir / "raw.txt", "raw", "system.Dataset")],
    }
    program = compile_program(artifacts_in_and_out)
    ours = other.run("standin", program, artifacts=artifacts)
    assert ours.returncode == 0, ours.stderr
    expected = runner.run("kfp", program, artifacts=artifacts)
    assert ours.executor_output == expected.executor_output


@component
def reads_parameter_files(text: InputPath(str), numbers: InputPath(list)) -> str:
    with open(text) as f, open(numbers) as g:
        return f.read() + "|" + g.read()


@pytest.mark.parametrize("mode", OUR_MODES)
def test_input_path_of_a_parameter_gets_a_file_with_its_value(runner, mode) -> None:
    # kfp 2's executor raises here (no such artifact); the kfp 1.x API relied on it.
    program = compile_program(reads_parameter_files)
    parameters = {"text": "hello", "numbers": [1, True]}
    assert runner.run("kfp", program, parameters=parameters).returncode == 1
    result = runner.run(mode, program, parameters=parameters)
    assert result.returncode == 0, result.stderr
    assert result.executor_output["parameterValues"]["Output"] == "hello|[1, true]"
