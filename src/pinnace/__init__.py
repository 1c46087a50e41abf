"""Pinnace: Kubeflow Pipelines without the cluster.

    >>> from pinnace import dsl, compiler
    >>> import pinnace
    >>> result = pinnace.run(my_pipeline, arguments={"n": 3})   # doctest: +SKIP
    >>> result.state                                            # doctest: +SKIP
    'SUCCEEDED'

Submodules load on first use, so `import pinnace` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from . import compiler, components, dsl
    from .api import RunResult, TaskResult, run
    from .errors import PinnaceError
    from .settings import Settings

_LAZY = {
    "compiler": ("pinnace.compiler", None),
    "components": ("pinnace.components", None),
    "dsl": ("pinnace.dsl", None),
    "run": ("pinnace.api", "run"),
    "RunResult": ("pinnace.api", "RunResult"),
    "TaskResult": ("pinnace.api", "TaskResult"),
    "PinnaceError": ("pinnace.errors", "PinnaceError"),
    "Settings": ("pinnace.settings", "Settings"),
}

__all__ = [
    "PinnaceError",
    "RunResult",
    "Settings",
    "TaskResult",
    "__version__",
    "compiler",
    "components",
    "dsl",
    "run",
]


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pinnace' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
