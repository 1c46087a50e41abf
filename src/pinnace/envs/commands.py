"""Recognize the container commands of lightweight Python components (kfp 1.x and 2.x).

A lightweight component's command installs packages with pip, writes the program text to a
file and runs it. Recognizing that shape lets the local executor run the same program in a
cached environment instead of running pip on every execution. Nothing here runs anything.

    kfp 2.x: [sh -c "<pip install script> && \"$0\" \"$@\""]   (optional)
             sh -ec "program_path=$(mktemp -d) ... python3 -m kfp.dsl.executor_main ..."
             "<program text>"
             args: --executor_input {{$}} --function_to_execute NAME
    kfp 1.x: [sh -c "(<pip install> || <pip install> --user) && \"$0\" \"$@\""]   (optional)
             sh -ec "program_path=$(mktemp) ... python3 -u \"$program_path\" \"$@\""
             "<program text>"
             args: the program's own argparse arguments
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .requirements import requirement_name

KFP_V2 = "kfp-v2"
KFP_V1 = "kfp-v1"

# kfp 2.x installs itself (and typing-extensions for old Pythons) next to the user's
# packages; Pinnace runs the program with its own standard-library runtime instead.
_SDK_PACKAGES = frozenset({"kfp"})
_SDK_COMPANION = 'typing-extensions>=3.7.4,<5; python_version<"3.9"'
_V2_EXECUTOR_MODULES = ("kfp.dsl.executor_main", "kfp.v2.components.executor_main")
_V1_RUNNER = re.compile(r'python3?\s+-u\s+"\$program_path"\s+"\$@"')
_V1_CALL = re.compile(r"^_outputs = (?P<name>[A-Za-z_]\w*)\(\*\*_parsed_args\)$", re.MULTILINE)
_SEPARATOR_CHARS = frozenset("&|;()")
_FLAGS = frozenset({"--quiet", "-q", "--no-warn-script-location", "--no-deps", "--user", "-U"})
_FLAGS_WITH_VALUE = {
    "--index-url": "index_urls",
    "-i": "index_urls",
    "--extra-index-url": "index_urls",
    "--trusted-host": "trusted_hosts",
}


@dataclass(frozen=True)
class LightweightProgram:
    """The parts of a lightweight component's command that Pinnace needs to run it."""

    kind: str
    packages: list[str]
    index_urls: list[str]
    program_text: str
    function_name: str | None
    program_args: list[Any]  # strings, or a component file's unresolved placeholders
    trusted_hosts: list[str] = field(default_factory=list)


@dataclass
class _Installs:
    packages: list[str] = field(default_factory=list)
    index_urls: list[str] = field(default_factory=list)
    trusted_hosts: list[str] = field(default_factory=list)


def recognize_command(
    command: Sequence[str], args: Sequence[Any] = ()
) -> LightweightProgram | None:
    """A `LightweightProgram` when `command` has a lightweight component's shape, else None.

    Example:
        >>> ir = yaml.safe_load(open("pipeline.yaml"))
        >>> container = ir["deploymentSpec"]["executors"]["exec-train"]["container"]
        >>> recognize_command(container["command"], container["args"]).packages
        ['pandas>=2']
    """
    if any(not isinstance(part, str) for part in command):
        return None  # a structured placeholder in the command itself: not a known shape
    parts = list(command)
    installs = _Installs()
    if len(parts) >= 3 and parts[0] == "sh" and parts[1] == "-c" and _chains_on(parts[2]):
        parsed = _parse_install_script(parts[2])
        if parsed is None:
            return None
        installs = parsed
        parts = parts[3:]
    if len(parts) < 4 or parts[0] != "sh" or parts[1] not in ("-c", "-ec", "-e"):
        return None
    runner, program_text = parts[2], parts[3]
    program_args = [*parts[4:], *args]
    kind = _runner_kind(runner)
    if kind is None:
        return None
    if kind == KFP_V2:
        function_name = _option_value(program_args, "--function_to_execute")
        packages = _without_sdk(installs.packages)
    else:
        match = _V1_CALL.search(program_text)
        function_name = match["name"] if match else None
        packages = installs.packages
    return LightweightProgram(
        kind=kind,
        packages=packages,
        index_urls=installs.index_urls,
        program_text=program_text,
        function_name=function_name,
        program_args=program_args,
        trusted_hosts=installs.trusted_hosts,
    )


def _chains_on(script: str) -> bool:
    """True for an `sh -c` prefix that ends by running the rest of the command."""
    return script.rstrip().endswith('"$0" "$@"')


def _runner_kind(runner: str) -> str | None:
    if 'printf "%s" "$0"' not in runner:
        return None
    if any(f"-m {module}" in runner for module in _V2_EXECUTOR_MODULES):
        return KFP_V2
    if _V1_RUNNER.search(runner):
        return KFP_V1
    return None


def _parse_install_script(script: str) -> _Installs | None:
    """The pip installs of an install prefix, or None if it cannot be read (a fresh copy)."""
    read = _read_install_script(script)
    if read is None:
        return None
    return _Installs(list(read.packages), list(read.index_urls), list(read.trusted_hosts))


@lru_cache(maxsize=256)
def _read_install_script(script: str) -> _Installs | None:
    # Cached: the executor reads the same command at every prestart and launch (~1 ms each).
    installs = _Installs()
    try:
        commands = _commands(script)
    except ValueError:
        return None  # unbalanced quotes
    for words in commands:
        start = _pip_install_end(words)
        if start is not None and not _read_pip_arguments(words[start:], installs):
            return None
    installs.packages = list(dict.fromkeys(installs.packages))  # `|| ... --user` repeats them
    installs.index_urls = list(dict.fromkeys(installs.index_urls))
    installs.trusted_hosts = list(dict.fromkeys(installs.trusted_hosts))
    return installs


def _commands(script: str) -> list[list[str]]:
    """Split a shell script into simple commands at newlines, `&&`, `||`, `;` and parentheses."""
    commands: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in lexer:
            if set(token) <= _SEPARATOR_CHARS:
                commands.append(words)
                words = []
            else:
                words.append(token)
        commands.append(words)
    return [words for words in commands if words]


def _pip_install_end(words: list[str]) -> int | None:
    """The index just past `pip install` (or `python -m pip install`) in a command, if any."""
    for i in range(1, len(words)):
        if words[i] == "install" and words[i - 1] in ("pip", "pip3"):
            return i + 1
    return None


def _read_pip_arguments(words: list[str], installs: _Installs) -> bool:
    """Add the packages and index options of one `pip install`; False on an unknown option."""
    pending: str | None = None
    for word in words:
        if pending is not None:
            getattr(installs, pending).append(word)
            pending = None
        elif word in _FLAGS_WITH_VALUE:
            pending = _FLAGS_WITH_VALUE[word]
        elif "=" in word and word.split("=", 1)[0] in _FLAGS_WITH_VALUE:
            flag, value = word.split("=", 1)
            getattr(installs, _FLAGS_WITH_VALUE[flag]).append(value)
        elif word in _FLAGS:
            continue
        elif word.startswith("-"):
            return False  # an option we do not model (-r, --pre, ...): run the real command
        else:
            installs.packages.append(word)
    return pending is None


def _without_sdk(packages: list[str]) -> list[str]:
    return [p for p in packages if not _is_sdk(p)]


def _is_sdk(package: str) -> bool:
    if package == _SDK_COMPANION or requirement_name(package) in _SDK_PACKAGES:
        return True
    # kfp_package_path: kfp installed from its repository, e.g. git+https://...kubeflow/pipelines
    return requirement_name(package) is None and "kubeflow/pipelines" in package


def _option_value(args: list[Any], option: str) -> str | None:
    for i, arg in enumerate(args[:-1]):
        if arg == option and isinstance(args[i + 1], str):
            return args[i + 1]
    return None


__all__ = ["KFP_V1", "KFP_V2", "LightweightProgram", "recognize_command"]
