"""Recognition of lightweight components' commands, on golden files from kfp 2.17.3 and 1.8.22.

The fixtures are written by tests/fixtures/envs/make_kfp2_fixtures.py (real kfp 2.x) and
make_kfp1_fixtures.py (real kfp 1.8.22); *_expected.json records what each was built from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pinnace.envs.commands import KFP_V1, KFP_V2, recognize_command

FIXTURES = Path(__file__).parents[1] / "fixtures" / "envs"
KFP2_EXPECTED = json.loads((FIXTURES / "kfp2_expected.json").read_text())
KFP1_EXPECTED = json.loads((FIXTURES / "kfp1_expected.json").read_text())
V1_RUNNER = (
    'program_path=$(mktemp)\nprintf "%s" "$0" > "$program_path"\npython3 -u "$program_path" "$@"\n'
)


def _kfp2_containers() -> dict[str, dict]:
    containers = {}
    for name in ("kfp2_lightweight_pipeline.yaml", "kfp2_artifacts_pipeline.yaml"):
        ir = yaml.safe_load((FIXTURES / name).read_text())
        for label, executor in ir["deploymentSpec"]["executors"].items():
            if "container" in executor:
                containers[label] = executor["container"]
    return containers


KFP2_CONTAINERS = _kfp2_containers()


def _user_packages(packages: list[str]) -> list[str]:
    return [p for p in packages if not p.startswith("kfp==")]


def test_every_kfp2_fixture_executor_is_covered():
    assert set(KFP2_CONTAINERS) == set(KFP2_EXPECTED)


@pytest.mark.parametrize("label", sorted(KFP2_EXPECTED))
def test_kfp2_commands_are_recognized(label):
    expected = KFP2_EXPECTED[label]
    container = KFP2_CONTAINERS[label]
    program = recognize_command(container["command"], container["args"])
    assert program is not None
    assert program.kind == KFP_V2
    assert program.function_name == expected["function_name"]
    # kfp installs itself beside the user's packages; only the user's packages remain.
    assert program.packages == _user_packages(expected["packages"])
    assert program.index_urls == expected["index_urls"]
    trusted = expected["trusted_hosts"]
    assert program.trusted_hosts == (expected["index_urls"] if trusted is None else trusted)
    assert program.program_text == container["command"][-1]
    assert f"def {expected['function_name']}(" in program.program_text
    assert program.program_args == container["args"]


@pytest.mark.parametrize("name", sorted(KFP1_EXPECTED))
def test_kfp1_component_files_are_recognized(name):
    expected = KFP1_EXPECTED[name]
    spec = yaml.safe_load((FIXTURES / expected["component_file"]).read_text())
    container = spec["implementation"]["container"]
    program = recognize_command(container["command"], container.get("args", []))
    assert program is not None
    assert program.kind == expected["kind"]
    assert program.function_name == expected["function_name"]
    assert program.packages == _user_packages(expected["packages"])
    assert program.index_urls == []
    # Structured placeholders of a component file pass through untouched.
    assert program.program_args == container.get("args", [])


WORKFLOW_TEMPLATES = {"add": "add", "train": "train", "write-data": "write_data"}


@pytest.mark.parametrize("template", sorted(WORKFLOW_TEMPLATES))
def test_kfp1_compiled_argo_workflow_commands_are_recognized(template):
    workflow = yaml.safe_load((FIXTURES / "kfp1_workflow.yaml").read_text())
    container = next(t for t in workflow["spec"]["templates"] if t["name"] == template)["container"]
    expected = KFP1_EXPECTED[WORKFLOW_TEMPLATES[template]]
    program = recognize_command(container["command"], container["args"])
    assert program is not None
    assert program.kind == KFP_V1
    assert program.function_name == expected["function_name"]
    assert program.packages == expected["packages"]  # the `|| ... --user` retry adds none
    assert program.program_args == container["args"]
    assert program.program_text == container["command"][-1]


def test_kfp1_train_arguments_are_the_programs_argparse_arguments():
    workflow = yaml.safe_load((FIXTURES / "kfp1_workflow.yaml").read_text())
    container = next(t for t in workflow["spec"]["templates"] if t["name"] == "train")["container"]
    program = recognize_command(container["command"], container["args"])
    assert program.program_args[:4] == ["--data", "/tmp/inputs/data/data", "--epochs", "2"]
    assert "_outputs = train(**_parsed_args)" in program.program_text


def test_words_after_the_program_text_come_before_args():
    program = recognize_command(["sh", "-ec", V1_RUNNER, "x = 1\n", "--a"], ["1"])
    assert program is not None and program.program_args == ["--a", "1"]


def test_index_options_written_with_equals_and_extra_flags():
    prefix = (
        "python3 -m pip install -q --index-url=https://a.example/simple "
        '--extra-index-url https://b.example/simple \'attrs>=21\' six && "$0" "$@"'
    )
    program = recognize_command(["sh", "-c", prefix, "sh", "-ec", V1_RUNNER, "x = 1\n"])
    assert program is not None
    assert program.packages == ["attrs>=21", "six"]
    assert program.index_urls == ["https://a.example/simple", "https://b.example/simple"]
    assert program.function_name is None


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["python", "main.py"],
        ["sh", "-c", "echo hello"],
        ["sh", "-ec", "python3 main.py", "print(1)"],
        ["sh", "-ec", V1_RUNNER],  # no program text
        # An install option Pinnace does not model: leave the command to run as written.
        ["sh", "-c", 'pip install -r requirements.txt && "$0" "$@"', "sh", "-ec", V1_RUNNER, "x"],
        ["sh", "-c", 'pip install \'unbalanced && "$0" "$@"', "sh", "-ec", V1_RUNNER, "x"],
        ["sh", "-c", 'pip install six && "$0" "$@"', "python3", "main.py"],
        ["sh", "-ec", {"inputValue": "script"}, "x"],
    ],
)
def test_other_commands_are_not_recognized(command):
    assert recognize_command(command, ["--x", "1"]) is None
