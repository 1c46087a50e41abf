"""A minimal stand-in `kfp` package, so compiled component modules import without kfp.

The program text kfp compiles starts with `import kfp`, `from kfp import dsl` and
`from kfp.dsl import *`. Inside a task's environment kfp is usually not installed, so
`install_kfp()` puts small modules built from runtime/types.py into `sys.modules`. When
the real kfp is importable it is used unchanged (the executor duck-types its classes).
"""

from __future__ import annotations

import importlib
import os
import sys
import types as _pytypes
from collections.abc import Callable
from typing import Any

from . import artifacts, types

# The names kfp.dsl exports at task runtime (`_KFP_RUNTIME=true`), plus the decorators,
# which kfp strips from the program text but other compilers may leave in.
_DSL_NAMES = (
    "EmbeddedInput",
    "Input",
    "Output",
    "InputPath",
    "OutputPath",
    "PipelineTaskFinalStatus",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "HTML",
    "Markdown",
    "Metrics",
    "Model",
    "SlicedClassificationMetrics",
)
_PLACEHOLDERS = {
    "PIPELINE_JOB_NAME_PLACEHOLDER": "{{$.pipeline_job_name}}",
    "PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER": "{{$.pipeline_job_resource_name}}",
    "PIPELINE_JOB_ID_PLACEHOLDER": "{{$.pipeline_job_uuid}}",
    "PIPELINE_TASK_NAME_PLACEHOLDER": "{{$.pipeline_task_name}}",
    "PIPELINE_TASK_ID_PLACEHOLDER": "{{$.pipeline_task_uuid}}",
    "PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER": "{{$.outputs.output_file}}",
    "PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER": "{{$}}",
    "PIPELINE_ROOT_PLACEHOLDER": "{{$.pipeline_root}}",
    "PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER": "{{$.pipeline_job_create_time_utc}}",
    "PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER": "{{$.pipeline_job_schedule_time_utc}}",
    "WORKSPACE_PATH_PLACEHOLDER": "{{$.workspace_path}}",
}
_DECORATORS = ("component", "container_component", "notebook_component", "pipeline")


def passthrough_decorator(func: Callable | None = None, **_options: Any) -> Any:
    """`@dsl.component` and `@dsl.component(...)` at task runtime: return the function."""
    if func is None:
        return lambda f: f
    return func


def install_kfp() -> str:
    """Make `import kfp` work in this process; return "kfp" (real) or "stand-in".

    Sets `_KFP_RUNTIME=true` first, as kfp's own task command does, so a real kfp
    installed with `--no-deps` imports without its compile-time dependencies.
    """
    os.environ.setdefault("_KFP_RUNTIME", "true")
    if "kfp.dsl" not in sys.modules:
        try:
            importlib.import_module("kfp.dsl")
        except Exception:  # not installed, or too broken to import: the stand-in will do
            _install_standin()
            _alias_v2()
            return "stand-in"
    dsl = sys.modules["kfp.dsl"]
    _alias_v2()
    if getattr(dsl, "__pinnace_standin__", False):
        return "stand-in"
    for name in _DECORATORS:
        # Runtime-mode kfp omits the decorators; a module that kept them must still load.
        if not hasattr(dsl, name):
            setattr(dsl, name, passthrough_decorator)
    return "kfp"


def _alias_v2() -> None:
    """kfp 1.8's v2 components import `kfp.v2.dsl`; under kfp 2 (or the stand-in) that is
    `kfp.dsl` (kfp 2's own `kfp.v2` shim imports the compiler, which runtime mode lacks)."""
    kfp = sys.modules.get("kfp")
    if kfp is None or "kfp.v2" in sys.modules or str(kfp.__version__).startswith("1."):
        return
    v2 = _module("kfp.v2", dsl=sys.modules["kfp.dsl"])
    v2.__path__ = []  # type: ignore[attr-defined]
    sys.modules["kfp.v2.dsl"] = sys.modules["kfp.dsl"]


def _module(name: str, **attrs: Any) -> _pytypes.ModuleType:
    module = _pytypes.ModuleType(name, "Pinnace stand-in for kfp at task runtime.")
    module.__dict__.update(attrs)
    module.__pinnace_standin__ = True  # type: ignore[attr-defined]
    sys.modules[name] = module
    return module


def _install_standin() -> None:
    for name in [n for n in sys.modules if n == "kfp" or n.startswith("kfp.")]:
        del sys.modules[name]  # drop half-imported pieces of a broken kfp
    artifact_types = _module(
        "kfp.dsl.types.artifact_types",
        **{c.__name__: c for c in types.ARTIFACT_CLASSES},
        _SCHEMA_TITLE_TO_TYPE=dict(types.SCHEMA_TITLE_TO_CLASS),
        get_uri=artifacts.get_uri,
    )
    type_annotations = _module(
        "kfp.dsl.types.type_annotations",
        InputPath=types.InputPath,
        OutputPath=types.OutputPath,
        InputAnnotation=types.InputAnnotation,
        OutputAnnotation=types.OutputAnnotation,
        EmbeddedAnnotation=types.EmbeddedAnnotation,
    )
    dsl_types = _module(
        "kfp.dsl.types", artifact_types=artifact_types, type_annotations=type_annotations
    )
    exported = {name: getattr(types, name) for name in _DSL_NAMES}
    decorators = {name: passthrough_decorator for name in _DECORATORS}
    dsl = _module(
        "kfp.dsl",
        **exported,
        **_PLACEHOLDERS,
        **decorators,
        get_uri=artifacts.get_uri,
        InputAnnotation=types.InputAnnotation,
        OutputAnnotation=types.OutputAnnotation,
        types=dsl_types,
        __all__=[*_DSL_NAMES, *_PLACEHOLDERS, "get_uri", *_DECORATORS],
    )
    dsl.__path__ = []  # type: ignore[attr-defined]  # a package, so `kfp.dsl.types` imports
    dsl_types.__path__ = []  # type: ignore[attr-defined]
    kfp = _module("kfp", dsl=dsl, __version__="0.0.0+pinnace-standin")
    kfp.__path__ = []  # type: ignore[attr-defined]
