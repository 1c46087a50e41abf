"""Loading a pipeline from a file: Python, Jupyter notebook, KFP spec YAML/JSON, kfp 1.x Argo."""

from __future__ import annotations

import json
import linecache
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CompileError, PinnaceError, PipelineSourceError

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def load_pipeline_file(
    path: str | Path, *, pipeline_name: str | None = None, force_kfp_alias: bool = False
) -> dict[str, Any]:
    """The pipeline spec (IR dict) defined by a file; raises PipelineSourceError if none."""
    spec, _ = load_pipeline_documents(
        path, pipeline_name=pipeline_name, force_kfp_alias=force_kfp_alias
    )
    return spec


def load_pipeline_documents(
    path: str | Path, *, pipeline_name: str | None = None, force_kfp_alias: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The pipeline spec and its platform spec (None without one) defined by a file."""
    file = Path(path)
    if not file.is_file():
        raise PipelineSourceError(
            "no such file",
            path=str(path),
            hint="give the path of a .py, .ipynb, .yaml or .json file",
        )
    suffix = file.suffix.lower()
    if suffix in _SPEC_SUFFIXES:
        from .spec.load import load_spec

        loaded = load_spec(file)
        return _pipeline_spec(loaded), getattr(loaded, "platform_spec", None)
    if suffix == ".ipynb":
        source = notebook_source(file)
    elif suffix == ".py":
        source = file.read_text(encoding="utf-8")
    else:
        raise PipelineSourceError(
            f"unknown file type {suffix!r}",
            path=str(file),
            hint="Pinnace reads .py, .ipynb, .yaml, .yml and .json",
        )
    namespace = exec_pipeline_source(source, file, force_kfp_alias=force_kfp_alias)
    return compile_documents_from_namespace(namespace, file, pipeline_name)


def _pipeline_spec(loaded: Any) -> dict[str, Any]:
    spec = getattr(loaded, "pipeline_spec", loaded)
    return dict(spec)


def notebook_source(file: Path) -> str:
    """The code cells of a notebook as one program; `!shell` and `%magic` lines are dropped."""
    try:
        notebook = json.loads(file.read_text(encoding="utf-8"))
        cells = notebook["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PipelineSourceError(f"not a Jupyter notebook: {exc}", path=str(file)) from None
    lines: list[str] = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        lines.append(f"# cell {index + 1}")
        for line in text.splitlines():
            stripped = line.lstrip()
            ignored = stripped.startswith(("!", "%"))
            lines.append(f"# (not run by pinnace) {line}" if ignored else line)
    return "\n".join(lines) + "\n"


def exec_pipeline_source(
    source: str, file: Path, *, force_kfp_alias: bool = False
) -> dict[str, Any]:
    """Execute a pipeline program, with `kfp` aliased to Pinnace when kfp is absent."""
    from .kfp_alias import kfp_alias

    filename = str(file.resolve())
    try:
        code = compile(source, filename, "exec", flags=0, dont_inherit=True)
    except SyntaxError as exc:
        raise PipelineSourceError(
            f"syntax error: {exc.msg}",
            path=str(file),
            line=exc.lineno,
            hint="fix the Python syntax at that line",
        ) from None
    # inspect.getsource needs the text of notebooks and generated code: register it.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": "__pinnace_pipeline__", "__file__": filename}
    old_cwd, old_path = os.getcwd(), list(sys.path)
    sys.path.insert(0, str(file.resolve().parent))
    try:
        with kfp_alias(force=force_kfp_alias):
            exec(code, namespace)
    except PinnaceError:
        raise
    except Exception as exc:
        raise _user_code_error(exc, file) from None
    finally:
        sys.path[:] = old_path
        os.chdir(old_cwd)
    return namespace


def _user_code_error(exc: BaseException, file: Path) -> PipelineSourceError:
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file.resolve())
    ]
    line = frames[-1].lineno if frames else None
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return PipelineSourceError(
        f"running the pipeline file raised {detail}",
        path=str(file),
        line=line,
        hint="fix the error at that line",
    )


def compile_from_namespace(
    namespace: Mapping[str, Any], file: Path, pipeline_name: str | None
) -> dict[str, Any]:
    """Compile the file's pipeline, or its lone component, choosing as `kfp dsl compile` does."""
    return compile_documents_from_namespace(namespace, file, pipeline_name)[0]


def compile_documents_from_namespace(
    namespace: Mapping[str, Any], file: Path, pipeline_name: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The pipeline spec and platform spec of the file's pipeline (or lone component)."""
    from .compiler import compile_documents

    chosen = choose_pipeline(namespace, file, pipeline_name)
    try:
        return compile_documents(chosen)
    except CompileError as exc:
        raise _in_file(exc, file) from None
    except PinnaceError:
        raise
    except Exception as exc:
        raise _user_code_error(exc, file) from None


def choose_pipeline(namespace: Mapping[str, Any], file: Path, pipeline_name: str | None) -> Any:
    """The one pipeline of a program; failing that, its one component (as `kfp dsl compile`)."""
    from .dsl import BaseComponent, Pipeline

    pipelines = {name: obj for name, obj in namespace.items() if isinstance(obj, Pipeline)}
    components = {
        name: obj
        for name, obj in namespace.items()
        if isinstance(obj, BaseComponent) and not isinstance(obj, Pipeline)
    }
    if pipeline_name is not None:
        found = pipelines.get(pipeline_name) or components.get(pipeline_name)
        if found is None:
            raise PipelineSourceError(
                f"no pipeline function or component named {pipeline_name!r}",
                path=str(file),
                hint=f"pipelines in this file: {', '.join(sorted(pipelines)) or '(none)'}",
            )
        return found
    if len(pipelines) == 1:
        return next(iter(pipelines.values()))
    if not pipelines and len(components) == 1:
        return next(iter(components.values()))
    if not pipelines and not components:
        raise PipelineSourceError(
            "defines no pipeline",
            path=str(file),
            hint="decorate the pipeline function with @dsl.pipeline",
        )
    several = pipelines or components
    raise PipelineSourceError(
        f"defines several {'pipelines' if pipelines else 'components'} "
        f"({', '.join(sorted(several))})",
        path=str(file),
        hint="choose one with --pipeline NAME",
    )


def _in_file(exc: CompileError, file: Path) -> CompileError:
    """The same error, its message prefixed with the file that defines the pipeline."""
    if not exc.message.startswith(f"{file}:"):
        exc.message = f"{file}: {exc.message}"
        exc.args = (exc.message,)
    return exc


__all__ = ["load_pipeline_documents", "load_pipeline_file", "notebook_source"]
