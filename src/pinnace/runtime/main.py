"""The task entrypoint: parse kfp's executor flags, load the component module, run it.

Exit codes: 0 success; 1 the component failed (its module or function raised, or its
outputs were invalid; the original traceback is on stderr); 2 invalid invocation (bad
flags, bad `--executor_input` JSON, module file or function not found).
"""

from __future__ import annotations

import json
import os
import sys
from types import ModuleType
from typing import Any

from .executor import Executor
from .kfp_standin import install_kfp

EXIT_OK = 0
EXIT_COMPONENT_FAILED = 1
EXIT_INVALID_INVOCATION = 2


class InvocationError(Exception):
    """The runtime was started with arguments it cannot use."""


_FLAGS = ("component_module_path", "function_to_execute", "executor_input")
_REQUIRED = ("function_to_execute", "executor_input")


class Flags:
    """kfp's `executor_main` flags (None when absent)."""

    def __init__(self) -> None:
        self.component_module_path: str | None = None
        self.function_to_execute: str | None = None
        self.executor_input: str | None = None


def parse_args(argv: list[str] | None) -> Flags:
    """kfp's `executor_main` flags, `--flag value` or `--flag=value`; others are ignored.

    Parsed by hand: argparse alone costs a task ~15 ms of imports. Raises InvocationError
    when a required flag is missing or has no value.
    """
    words = sys.argv[1:] if argv is None else list(argv)
    flags = Flags()
    index = 0
    while index < len(words):
        name, has_value, value = words[index].partition("=")
        index += 1
        if not name.startswith("--") or name[2:] not in _FLAGS:
            continue
        if not has_value:
            if index >= len(words):
                raise InvocationError(f"argument {name}: expected one argument")
            value = words[index]
            index += 1
        setattr(flags, name[2:], value)
    missing = [f"--{name}" for name in _REQUIRED if getattr(flags, name) is None]
    if missing:
        raise InvocationError(f"the following arguments are required: {', '.join(missing)}")
    return flags


def load_executor_input(text: str) -> dict[str, Any]:
    """Parse `--executor_input`; it must be a JSON object with `outputs.outputFile`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvocationError(f"--executor_input is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("outputs"), dict):
        raise InvocationError("--executor_input must be a JSON object with an 'outputs' object")
    if not value["outputs"].get("outputFile"):
        raise InvocationError("--executor_input has no outputs.outputFile")
    return value


def load_component_module(module_path: str) -> ModuleType:
    """Import the component file as kfp does: named after the file, its folder on sys.path."""
    if not module_path.endswith(".py") or not os.path.isfile(module_path):
        raise InvocationError(f"--component_module_path {module_path!r} is not a .py file")
    directory = os.path.dirname(os.path.abspath(module_path))
    name = os.path.basename(module_path)[: -len(".py")]
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(directory, f"{name}.py"))
    if spec is None or spec.loader is None:
        raise InvocationError(f"cannot load {module_path!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, directory)
    spec.loader.exec_module(module)  # user code: its exceptions mean the component failed
    return module


def find_function(module: ModuleType, name: str) -> Any:
    """The component function named `name` in the loaded module."""
    function = getattr(module, name, None)
    if function is None or not callable(function):
        raise InvocationError(
            f"function {name!r} not found in component module {module.__file__!r}"
        )
    return function


def run(argv: list[str] | None = None) -> int:
    """Run one task; return the process exit code (see the module docstring)."""
    try:
        args = parse_args(argv)
        # parse_args raised if a required flag is missing
        assert args.executor_input is not None and args.function_to_execute is not None
        executor_input = load_executor_input(args.executor_input)
        if not args.component_module_path:
            raise InvocationError(
                "--component_module_path is required (kfp_config.ini lookup is not supported)"
            )
        install_kfp()
        module = _guarded(load_component_module, args.component_module_path)
        function = find_function(module, args.function_to_execute)
        _guarded(lambda: Executor(executor_input, function).execute())
    except InvocationError as exc:
        print(f"pinnace runtime: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INVOCATION
    except _ComponentFailed as failed:
        sys.stderr.write(failed.formatted)
        print(
            f"pinnace runtime: component {args.function_to_execute!r} failed: "
            f"{type(failed.original).__name__}: {failed.original}",
            file=sys.stderr,
        )
        return EXIT_COMPONENT_FAILED
    return EXIT_OK


class _ComponentFailed(Exception):
    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original
        import traceback  # only on failure: keep start-up lean

        self.formatted = "".join(
            traceback.format_exception(type(original), original, original.__traceback__)
        )


def _guarded(call: Any, *args: Any) -> Any:
    """Call into user code; any exception it raises becomes a component failure."""
    try:
        return call(*args)
    except InvocationError:
        raise
    except Exception as exc:  # a component may raise anything; report it whole
        raise _ComponentFailed(exc) from exc


def main() -> None:
    """Console entry: `python -m pinnace_runtime --executor_input ... --function_to_execute ...`."""
    sys.exit(run())
