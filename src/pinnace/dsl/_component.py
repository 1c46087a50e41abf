"""Components: callable definitions that create tasks, and the `@dsl.component` decorator."""

from __future__ import annotations

import functools
import inspect
import itertools
import textwrap
from collections.abc import Callable
from typing import Any, cast

from ..errors import CompileError
from ._context import PipelineContext
from ._local import run_outside_pipeline
from ._placeholders import EXECUTOR_INPUT
from ._structures import ComponentSpec
from ._task import PipelineTask

DEFAULT_BASE_IMAGE = "python:3.11"
# The kfp release whose in-container executor lightweight components install and run,
# so a spec compiled by Pinnace runs unchanged on a Kubeflow cluster.
KFP_RUNTIME_VERSION = "2.17.3"
EXECUTOR_MODULE = "kfp.dsl.executor_main"

_PIP_SCRIPT = """
if ! [ -x "$(command -v pip)" ]; then
    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip
fi

PIP_DISABLE_PIP_VERSION_CHECK=1 {commands} && "$0" "$@"
"""
_VENV_SCRIPT = """
export PIP_DISABLE_PIP_VERSION_CHECK=1
tmp=$(mktemp -d)
python3 -m venv "$tmp/venv" --system-site-packages
. "$tmp/venv/bin/activate"
"""
_CONTINUE = " " * 25  # kfp's launcher line keeps its source indentation after `\` joins
_LAUNCHER = (
    "program_path=$(mktemp -d)\n\n"
    'printf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
    f"_KFP_RUNTIME=true python3 -m {EXECUTOR_MODULE}{_CONTINUE}--component_module_path"
    f'{_CONTINUE}"$program_path/ephemeral_component.py"{_CONTINUE}"$@"\n'
)
_IMPORTS = ["import kfp", "from kfp import dsl", "from kfp.dsl import *", "from typing import *"]


class BaseComponent:
    """A component: calling it inside a pipeline function creates a `PipelineTask`."""

    #: kfp 1.x semantics: allow positional arguments, bound in input order.
    allow_positional = False

    def __init__(self, component_spec: ComponentSpec) -> None:
        self.component_spec = component_spec
        self.name = component_spec.name
        self.description = component_spec.description

    def __call__(self, *args: Any, **kwargs: Any) -> PipelineTask:
        spec = self.component_spec
        if args and not self.allow_positional:
            raise CompileError(
                f"component {self.name!r} was called with {len(args)} positional argument(s)",
                hint="pass arguments by keyword, e.g. comp(x=1)",
            )
        names = list(spec.inputs)
        if len(args) > len(names):
            raise CompileError(
                f"component {self.name!r} takes {len(names)} inputs but "
                f"{len(args)} positional arguments were given",
                hint=f"inputs: {', '.join(names) or 'none'}",
            )
        arguments = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in spec.inputs:
                raise CompileError(
                    f"{self.name}() got an unexpected keyword argument {key!r}",
                    hint=f"inputs of {self.name!r}: {', '.join(names) or 'none'}",
                )
            if key in arguments:
                raise CompileError(f"{self.name}() got multiple values for {key!r}")
            arguments[key] = value
        missing = [n for n in spec.required_inputs if n not in arguments]
        if missing:
            raise CompileError(
                f"{self.name}() missing {len(missing)} required argument(s): {', '.join(missing)}",
                hint="pass a value, a pipeline parameter or another task's output for each",
            )
        if PipelineContext.active() is None:
            # Outside a pipeline: run it now, as kfp's local runner does (`pinnace.local`).
            return cast(PipelineTask, run_outside_pipeline(self, arguments))
        return PipelineTask(spec, arguments)


class PythonComponent(BaseComponent):
    """A component made from a Python function by `@dsl.component`."""

    def __init__(self, component_spec: ComponentSpec, python_func: Callable) -> None:
        super().__init__(component_spec)
        self.python_func = python_func
        functools.update_wrapper(self, python_func)


def function_source(func: Callable) -> str:
    """The function's source, dedented, from its `def` line on (decorators dropped)."""
    try:
        code = inspect.getsource(func)
    except (OSError, TypeError) as exc:
        raise CompileError(
            f"cannot read the source of function {func.__name__!r}: {exc}",
            hint="define components in a file or notebook cell, not via eval or the REPL",
        ) from None
    lines = textwrap.dedent(code).split("\n")
    return "\n".join(itertools.dropwhile(lambda line: not line.startswith("def"), lines))


def _index_url_options(
    pip_index_urls: list[str] | None, pip_trusted_hosts: list[str] | None
) -> str:
    if not pip_index_urls:
        return ""
    options = [f"--index-url {pip_index_urls[0]}"]
    options += [f"--extra-index-url {url}" for url in pip_index_urls[1:]]
    hosts = pip_index_urls if pip_trusted_hosts is None else pip_trusted_hosts
    options += [f"--trusted-host {host}" for host in hosts]
    return " ".join(options) + " "


def _pip_install(parts: list[str], index_options: str) -> str:
    packages = " ".join(repr(str(p)) for p in parts)
    return f"python3 -m pip install --quiet --no-warn-script-location {index_options}{packages}"


def install_command(
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
    install_kfp_package: bool = True,
    target_image: str | None = None,
    kfp_package_path: str | None = None,
    pip_trusted_hosts: list[str] | None = None,
    use_venv: bool = False,
) -> list[str]:
    """The `sh -c` prefix that pip-installs packages (and kfp) before the step runs."""
    packages = packages_to_install or []
    inject_kfp = (
        install_kfp_package
        and target_image is None
        and not any(p.startswith("kfp") for p in packages)
    )
    if not inject_kfp and not packages:
        return []
    index_options = _index_url_options(pip_index_urls, pip_trusted_hosts)
    commands: list[str] = []
    if packages:
        commands.append(_pip_install(packages, index_options))
        if inject_kfp:
            commands.append(" && ")
    if inject_kfp:
        if use_venv:
            commands.append(_VENV_SCRIPT)
        if kfp_package_path:
            commands.append(_pip_install([kfp_package_path], index_options))
        else:
            kfp_parts = [
                f"kfp=={KFP_RUNTIME_VERSION}",
                "--no-deps",
                'typing-extensions>=3.7.4,<5; python_version<"3.9"',
            ]
            commands.append(_pip_install(kfp_parts, index_options))
    return ["sh", "-c", _PIP_SCRIPT.format(commands=" ".join(commands))]


def lightweight_command(
    func: Callable, additional_funcs: list[Callable] | None, helper: str | None = None
) -> list[str]:
    """`sh -ec <launcher> <program>`: the program is the function's source and imports
    (and `helper`, code that runs first, e.g. unpacking embedded files)."""
    extra = ""
    if additional_funcs:
        extra = "\n\n" + "\n\n".join(function_source(f) for f in additional_funcs)
    if helper:
        extra += f"\n\n{helper}\n"
    program = "\n" + "\n".join(_IMPORTS) + extra + "\n\n" + function_source(func) + "\n"
    return ["sh", "-ec", _LAUNCHER, program]


def executor_args(func: Callable) -> list[str]:
    return ["--executor_input", EXECUTOR_INPUT, "--function_to_execute", func.__name__]
