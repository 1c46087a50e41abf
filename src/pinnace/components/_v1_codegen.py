"""Writes the program and container command of a kfp 1.x function component (kfp 1.8 format)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import _v1_data_passing as data_passing

# The shell line that runs the program text passed as "$0" (kfp 1.8 writes it to a file
# so that Python can show tracebacks and `inspect.getsource` works inside the task).
RUN_PROGRAM = """\
program_path=$(mktemp)
printf "%s" "$0" > "$program_path"
python3 -u "$program_path" "$@"
"""
_PIP_INSTALL = (
    "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet --no-warn-script-location"
)

INPUT_STYLES = {"InputPath", "InputTextFile", "InputBinaryFile", "InputArtifact"}
OUTPUT_STYLES = {"OutputPath", "OutputTextFile", "OutputBinaryFile", "OutputArtifact"}


@dataclass
class Port:
    """One input or output of the component, with how the function receives it."""

    name: str
    type: Any
    style: str | None  # the annotation class name (InputPath...) or None for values
    parameter: str | None  # the function parameter (None for returned outputs)
    is_output: bool = False
    optional: bool = False


def container_command_and_args(
    func_name: str,
    func_code: str,
    prog: tuple[str, str],
    ports: list[Port],
    single_return: bool,
    packages: list[str],
) -> tuple[list[Any], list[Any]]:
    """Return (command, args) of the container that runs the function."""
    program = _Program(func_name, prog)
    inputs = [p for p in ports if not p.is_output]
    file_outputs = [p for p in ports if p.is_output and p.style is not None]
    returned = [p for p in ports if p.is_output and p.style is None]
    args: list[Any] = []
    for port in inputs + file_outputs:
        args.extend(program.add_argument(port))
    if returned:
        program.parser_lines.append(
            '_parser.add_argument("----output-paths", dest="_output_paths", type=str, '
            f"nargs={len(returned)})"
        )
        args.append("----output-paths")
        args.extend({"outputPath": port.name} for port in returned)
    source = program.source(func_code, returned, single_return)
    command: list[Any] = []
    if packages:
        pip = f"{_PIP_INSTALL} {' '.join(repr(str(package)) for package in packages)}"
        command = ["sh", "-c", f'({pip} || {pip} --user) && "$0" "$@"']
    return [*command, "sh", "-ec", RUN_PROGRAM, source], args


class _Program:
    """Accumulates the argparse lines and helper definitions of the program text."""

    def __init__(self, func_name: str, prog: tuple[str, str]) -> None:
        self.func_name = func_name
        self.helpers: list[str] = []  # defined before the function
        self.definitions: set[str] = set()  # defined before the parser, sorted
        name, description = prog
        self.parser_lines = [
            "import argparse",
            f"_parser = argparse.ArgumentParser(prog={name!r}, description={description!r})",
        ]

    def add_argument(self, port: Port) -> list[Any]:
        flag = "--" + port.name.replace("_", "-")
        required = port.is_output or not port.optional
        self.parser_lines.append(
            f'_parser.add_argument("{flag}", dest="{port.parameter}", '
            f"type={self._argparse_type(port)}, required={required}, "
            "default=argparse.SUPPRESS)"
        )
        if port.is_output:
            value = [flag, {"outputPath": port.name}]
        elif port.style in INPUT_STYLES:
            value = [flag, {"inputPath": port.name}]
        else:
            value = [flag, {"inputValue": port.name}]
        if required:
            return value
        return [{"if": {"cond": {"isPresent": port.name}, "then": value}}]

    def _argparse_type(self, port: Port) -> str:
        style = port.style
        if style == "InputPath":
            return "str"
        if style == "InputTextFile":
            return "argparse.FileType('rt')"
        if style == "InputBinaryFile":
            return "argparse.FileType('rb')"
        # Output paths get a helper that creates the parent folders first.
        if style == "OutputPath":
            self._add_helper(data_passing.MAKE_PARENT_DIRS)
            return "_make_parent_dirs_and_return_path"
        if style in ("OutputTextFile", "OutputBinaryFile"):
            self._add_helper(data_passing.OPEN_FILE_MAKER)
            mode = "'wt'" if style == "OutputTextFile" else "'wb'"
            return f"_parent_dirs_maker_that_returns_open_file({mode})"
        code, definition = data_passing.deserializer_for(port.type)
        if definition:
            self.definitions.add(definition)
        return code

    def _add_helper(self, text: str) -> None:
        if text not in self.helpers:
            self.helpers.append(text)

    def source(self, func_code: str, returned: list[Port], single_return: bool) -> str:
        serializers = []
        for port in returned:
            name, definition = data_passing.serializer_for(port.type)
            if definition:
                self.definitions.add(definition)
            serializers.append(name)
        lines = [*sorted(self.definitions), *self.parser_lines]
        lines.append("_parsed_args = vars(_parser.parse_args())")
        if returned:
            lines.append('_output_files = _parsed_args.pop("_output_paths", [])')
        helpers, parser = "\n".join(sorted(self.helpers)), "\n".join(lines)
        # The empty slot is kfp's `extra_code`, which create_component_from_func leaves empty.
        text = (
            f"{helpers}\n\n\n\n{func_code}\n\n{parser}\n\n"
            f"_outputs = {self.func_name}(**_parsed_args)\n"
        )
        if returned:
            text += _output_writing_code(serializers, single_return)
        return re.sub("\n\n\n+", "\n\n", text).strip("\n") + "\n"


def _output_writing_code(serializers: list[str], single_return: bool) -> str:
    listed = "_outputs = [_outputs]" if single_return else ""
    entries = "".join(f"    {name},\n" for name in serializers)
    return f"""

{listed}

_output_serializers = [
{entries}
]

import os
for idx, output_file in enumerate(_output_files):
    try:
        os.makedirs(os.path.dirname(output_file))
    except OSError:
        pass
    with open(output_file, 'w') as f:
        f.write(_output_serializers[idx](_outputs[idx]))
"""
