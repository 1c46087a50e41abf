"""A prestarted task process: pre-import a program's modules, then run it when told to.

The local executor starts `python -c BOOTSTRAP MODULES_JSON` in a task's environment ahead
of time. It imports the modules the task's program imports (failures are ignored: the task
meets and reports them itself), then waits for one JSON object on stdin:
{"argv", "cwd", "env", "log"}. It then becomes that task as a fresh `python -m
pinnace_runtime ...` or `python -u program.py ...` would be: same sys.argv, sys.path[0],
cwd, environment, stdout/stderr (the log file), exit code and tracebacks. End of input
without a launch (the executor discarded it or went away) exits quietly.
"""

from __future__ import annotations

import contextlib
import os
import sys

#: how the executor starts this module (no name is left in `__main__`'s globals)
BOOTSTRAP = "__import__('{package}.warm').warm.serve()"

# Whether the interpreter put the script's folder (here '' for -c) first on sys.path.
_PREPENDED = not getattr(sys.flags, "safe_path", False)


def serve() -> None:
    """Warm up from sys.argv[1] (JSON: [[module, [names]], ...], runtime), then run a task."""
    import json

    if _PREPENDED and sys.path and sys.path[0] == "":
        del sys.path[0]  # the cwd of `-c`; the task's own folder takes this place at launch
    modules, runtime = json.loads(sys.argv[1])
    if runtime:
        from .kfp_standin import install_kfp
        from .main import run  # noqa: F401  # the runtime itself, ready to go

        _quietly(install_kfp)
    for module, names in modules:
        _quietly(_import, module, names)
    launch = _read_launch()
    if launch is not None:
        _become(json.loads(launch))


def _import(module: str, names: list[str]) -> None:
    import importlib

    imported = importlib.import_module(module)
    for name in names:
        if not hasattr(imported, name):  # `from package import submodule`
            _quietly(importlib.import_module, f"{module}.{name}")


def _quietly(call: object, *args: object) -> None:
    # The task itself will meet (and report) the failure.
    with contextlib.suppress(Exception, SystemExit):
        call(*args)  # type: ignore[operator]


def _read_launch() -> bytes | None:
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    data = b"".join(chunks)
    return data if data.strip() else None


def _become(launch: dict) -> None:
    argv: list[str] = launch["argv"]
    os.chdir(launch["cwd"])
    os.environ.clear()
    os.environ.update(launch["env"])
    _redirect(launch["log"])
    if argv[1] == "-m":
        _run_module(argv[2], argv[3:], launch["cwd"])
    else:
        _run_script(argv[2], argv[3:])


def _redirect(log: str) -> None:
    """stdin from /dev/null; stdout and stderr to the log, after what warming up printed."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.lseek(1, 0, os.SEEK_SET)  # fd 1 is a scratch file holding the warm-up output
        while True:
            chunk = os.read(1, 1 << 16)
            if not chunk:
                break
            os.write(fd, chunk)
    except OSError:
        pass
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _run_module(name: str, args: list[str], cwd: str) -> None:
    """As `python -m name args` (runpy sets sys.argv[0] to the module's file)."""
    import runpy

    if _PREPENDED:
        sys.path.insert(0, cwd)
    sys.argv = ["-m", *args]
    try:
        runpy._run_module_as_main(name, alter_argv=True)  # type: ignore[attr-defined]
    except SystemExit:
        raise
    except BaseException as exc:  # reported as the interpreter would
        _uncaught(exc)


def _run_script(path: str, args: list[str]) -> None:
    """As `python -u path args`: a fresh `__main__` module runs the file's code."""
    import builtins
    import importlib.machinery
    import types

    if _PREPENDED:
        sys.path.insert(0, os.path.dirname(path))
    sys.argv = [path, *args]
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __builtins__=builtins,
        __loader__=importlib.machinery.SourceFileLoader("__main__", path),
    )
    sys.modules["__main__"] = main
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # reported as the interpreter would
        _uncaught(exc)


def _uncaught(exc: BaseException) -> None:
    """Print the traceback without this module's frames, exit 1: a fresh process's ending."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    exc.__traceback__ = tb
    sys.excepthook(type(exc), exc, tb)
    sys.exit(1)
