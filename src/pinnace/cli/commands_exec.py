"""`pinnace exec -- COMMAND`: run a kfp-based program or test suite on Pinnace, unchanged."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import UserInputError

_SITECUSTOMIZE = '''"""Written by `pinnace exec`: `import kfp` means Pinnace in this process."""
try:
    import pinnace.kfp_alias
except ImportError as exc:  # another interpreter, without Pinnace
    import sys

    print(f"pinnace exec: Pinnace is not importable here ({exc}); kfp is not aliased",
          file=sys.stderr)
else:
    pinnace.kfp_alias.activate()
'''


def alias_path(home: Path) -> Path:
    """The folder whose `sitecustomize.py` activates the alias in every Python started."""
    folder = home / "kfp-alias"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "sitecustomize.py"
    if not target.exists() or target.read_text(encoding="utf-8") != _SITECUSTOMIZE:
        temporary = folder / f".sitecustomize.{os.getpid()}"
        temporary.write_text(_SITECUSTOMIZE, encoding="utf-8")
        os.replace(temporary, target)
    return folder


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.command("exec", context_settings={"ignore_unknown_options": True})
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @click.pass_context
    def exec_command(ctx: click.Context, command: tuple[str, ...]) -> None:
        """Run COMMAND with `import kfp` meaning Pinnace in every Python it starts.

        `pinnace exec -- pytest tests/` runs a kfp test suite unchanged: `kfp.local`,
        `kfp.dsl`, `kfp.compiler`, `kfp.kubernetes` and `kfp.Client` are Pinnace's, and
        pipelines called under `kfp.local` run on Pinnace's engine. (In one process,
        `pinnace.kfp_alias.activate()` does the same, e.g. from a conftest.py.)
        """
        config = settings(ctx)
        folder = alias_path(config.home)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
        env["PINNACE_KFP_ALIAS"] = "always"
        try:
            os.execvpe(command[0], list(command), env)
        except OSError as exc:
            raise UserInputError(
                f"cannot run {command[0]!r}: {exc.strerror}",
                hint="give a command on PATH, e.g. pinnace exec -- pytest tests/",
            ) from None
