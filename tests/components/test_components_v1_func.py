"""kfp 1.x function components: Pinnace's spec against kfp 1.8.22's goldens, and runs."""

# No `from __future__ import annotations` here: the component functions defined in these
# tests need real annotation objects, exactly as a kfp 1.x user's module has them.
import os
import pathlib
import subprocess
import sys
import types

import pytest
import yaml

from pinnace.components._v1_docstring import parse_docstring
from pinnace.components._v1_func import component_name, func_to_v1_component_spec
from pinnace.components._v1_source import strip_type_hints
from pinnace.errors import CompileError, PipelineSourceError

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "components_v1"
sys.path.insert(0, str(FIXTURES))
import functions  # noqa: E402  (the fixture module shared with generate.py)

BOOK_CASES = [
    "download_dataset",
    "process_data",
    "train_model",
    "evaluate_model",
    "perform_sample_prediction",
    "download_dataset_from_url",
]


def golden(name: str) -> dict:
    return yaml.safe_load((FIXTURES / "golden" / f"{name}.yaml").read_text())


@pytest.mark.parametrize("name", sorted(functions.CASES))
def test_spec_equals_kfp_1_8_golden(name):
    func, kwargs = functions.CASES[name]
    with pytest.warns() if name == "every_basic_type" else _no_warning():
        spec = func_to_v1_component_spec(func, **kwargs)
    assert spec == golden(name)


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_book_specs_match_with_pinnace_path_classes():
    """The book's functions annotated with pinnace.runtime.types classes give kfp's specs."""
    runtime_types = pytest.importorskip("pinnace.runtime.types")
    for name in BOOK_CASES:
        func, kwargs = functions.CASES[name]
        clone = types.FunctionType(func.__code__, func.__globals__, func.__name__)
        clone.__annotations__ = {
            key: getattr(runtime_types, type(value).__name__)(value.type)
            if hasattr(value, "type")
            else value
            for key, value in func.__annotations__.items()
        }
        assert func_to_v1_component_spec(clone, **kwargs) == golden(name), name


def test_book_download_dataset_shape():
    spec = func_to_v1_component_spec(functions.download_dataset, packages_to_install=["pandas"])
    assert spec["name"] == "Download dataset"
    assert spec["outputs"] == [{"name": "df_all_data", "type": "String"}]
    command = spec["implementation"]["container"]["command"]
    assert command[:2] == ["sh", "-c"]
    assert "--no-warn-script-location 'pandas' ||" in command[2]
    assert command[2].endswith('--user) && "$0" "$@"')
    assert spec["implementation"]["container"]["image"] == "python:3.7"
    assert spec["implementation"]["container"]["args"] == [
        "--df-all-data",
        {"outputPath": "df_all_data"},
    ]


def _resolve(args: list, values: dict[str, str], paths: dict[str, str]) -> list[str]:
    """Replace the placeholders of `args` the way a kfp 1.x launcher does."""
    resolved: list[str] = []
    for arg in args:
        if isinstance(arg, str):
            resolved.append(arg)
        elif "inputValue" in arg:
            resolved.append(values[arg["inputValue"]])
        elif "inputPath" in arg:
            resolved.append(paths[arg["inputPath"]])
        elif "outputPath" in arg:
            resolved.append(paths[arg["outputPath"]])
        elif "if" in arg:
            name = arg["if"]["cond"]["isPresent"]
            if name in values or name in paths:
                resolved.extend(_resolve(arg["if"]["then"], values, paths))
        else:
            raise AssertionError(f"unexpected placeholder {arg}")
    return resolved


def _run_container(spec: dict, tmp_path: pathlib.Path, values: dict, paths: dict):
    """Run the spec's real command (`sh -ec ...`) with `python3` bound to this interpreter."""
    container = spec["implementation"]["container"]
    return _run_command(container["command"] + _resolve(container["args"], values, paths), tmp_path)


def _run_command(command: list[str], tmp_path: pathlib.Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_generated_program_returns_a_float(tmp_path):
    spec = func_to_v1_component_spec(functions.add_numbers)
    out = tmp_path / "outputs" / "Output" / "data"  # parent folders do not exist yet
    done = _run_container(spec, tmp_path, {"a": "1.25"}, {"Output": str(out)})
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "3.75"  # b took its default 2.5


def test_generated_program_writes_named_tuple_outputs(tmp_path):
    spec = func_to_v1_component_spec(functions.divide_with_remainder)
    names = [output["name"] for output in spec["outputs"]]
    paths = {name: str(tmp_path / "out" / name) for name in names}
    done = _run_container(spec, tmp_path, {"dividend": "17", "divisor": "5"}, paths)
    assert done.returncode == 0, done.stderr
    written = {name: pathlib.Path(path).read_text() for name, path in paths.items()}
    assert written == {
        "quotient": "3",
        "remainder": "2",
        "report": "17/5",
        "uri": "s3://bucket/key",
        "is_exact": "False",
    }


def test_generated_program_reads_and_writes_files(tmp_path):
    spec = func_to_v1_component_spec(functions.copy_text_file)
    source = tmp_path / "in.txt"
    source.write_text("one\ntwo\nthree\n")
    paths = {
        "source": str(source),
        "target": str(tmp_path / "deep" / "target.txt"),
        "line_count": str(tmp_path / "deeper" / "x" / "count"),
    }
    program = spec["implementation"]["container"]["command"][-1]
    script = tmp_path / "program.py"
    script.write_text(program)
    args = _resolve(spec["implementation"]["container"]["args"], {}, paths)
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "deep" / "target.txt").read_text() == "one\ntwo\nthree\n"
    assert (tmp_path / "deeper" / "x" / "count").read_text() == "3"


def test_generated_program_rejects_missing_required_input(tmp_path):
    spec = func_to_v1_component_spec(functions.add_numbers)
    container = spec["implementation"]["container"]
    command = [*container["command"], "--b", "1", "----output-paths", str(tmp_path / "o")]
    done = _run_command(command, tmp_path)
    assert done.returncode == 2
    assert "--a" in done.stderr


def test_output_path_with_default_is_an_error():
    def bad(result_path: functions.OutputPath(str) = "x"):
        pass

    with pytest.raises(CompileError, match="result_path") as info:
        func_to_v1_component_spec(bad)
    assert info.value.hint


def test_dict_return_annotation_is_an_error():
    def old_style() -> {"a": int}:  # noqa: F821 (the deprecated kfp 0.x syntax)
        return {"a": 1}

    with pytest.raises(CompileError, match="NamedTuple"):
        func_to_v1_component_spec(old_style)


def test_function_without_source_is_an_error():
    namespace: dict = {}
    exec("def made_up(x: int) -> int:\n    return x\n", namespace)
    with pytest.raises(PipelineSourceError, match="made_up"):
        func_to_v1_component_spec(namespace["made_up"])


def test_base_image_conflict_with_decorator_attribute():
    def f(a: int):
        pass

    f._component_base_image = "python:3.9"
    spec = func_to_v1_component_spec(f)
    assert spec["implementation"]["container"]["image"] == "python:3.9"
    with pytest.raises(CompileError, match="conflicts"):
        func_to_v1_component_spec(f, base_image="python:3.10")


@pytest.mark.parametrize(
    ("function_name", "expected"),
    [("download_dataset", "Download dataset"), ("__my__op_", "My op"), ("train", "Train")],
)
def test_component_name(function_name, expected):
    assert component_name(function_name) == expected


def test_strip_type_hints_matches_lib2to3():
    # Expected text produced by kfp 1.8's lib2to3 stripper for the same input.
    source = (
        "def f(a: (int) , b : 'x'=3, *args: int, c: int, **kw: str) -> (\n  int):\n"
        "    def g(x: int)->str : pass\n"
        "    async def h(y: int) -> None: pass\n"
        "    return 1\n"
    )
    assert strip_type_hints(source) == (
        "def f(a , b=3, *args, c, **kw):\n"
        "    def g(x) : pass\n"
        "    async def h(y): pass\n"
        "    return 1\n"
    )


# Expected values were produced by docstring_parser 0.18 (what kfp 1.8 uses).
@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (None, (None, {})),
        ("One line.", ("One line.", {})),
        (
            "Summary.\n\nArgs:\n    a: first\n    b (int): second,\n        continued.\n\n"
            "Returns:\n    the thing\n",
            ("Summary.", {"a": "first", "b": "second,\ncontinued."}),
        ),
        (
            "Summary.\n\n:param a: first\n:param int b: second\n  more\n:type a: str\n"
            ":returns: x\n",
            ("Summary.", {"a": "first", "b": "second\nmore"}),
        ),
        ("Args:\n    a: only args", ("Args:", {})),
        (":param a: only rest", (None, {"a": "only rest"})),
        ("Summary.\nArgs:\n  x: y\nRaises:\n  ValueError: when bad\n", ("Summary.", {"x": "y"})),
        ("Summary.\n\nArgs:\n    nocolon\n", ("Summary.", {})),
        ("Summary :with colon\n:bad", ("Summary :with colon", {})),
    ],
)
def test_parse_docstring_like_docstring_parser(doc, expected):
    assert parse_docstring(doc) == expected
