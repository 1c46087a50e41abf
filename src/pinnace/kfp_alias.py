"""Let code written for kfp (`import kfp`, `from kfp.components import ...`) run on Pinnace.

While a pipeline file is loaded by `pinnace run`/`pinnace compile`, and only when the real
kfp package is not installed, the names `kfp`, `kfp.dsl`, `kfp.compiler`, `kfp.components`
(and kfp 1.8's `kfp.v2.*`) resolve to Pinnace's modules. Nothing is changed at import time.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_ALIASES = {
    "kfp": "pinnace",
    "kfp.dsl": "pinnace.dsl",
    "kfp.compiler": "pinnace.compiler",
    "kfp.components": "pinnace.components",
    "kfp.v2": "pinnace",
    "kfp.v2.dsl": "pinnace.dsl",
    "kfp.v2.compiler": "pinnace.compiler",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _ALIASES:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(_ALIASES[fullname]))


def real_kfp_installed() -> bool:
    finders = [f for f in sys.meta_path if not isinstance(f, _AliasFinder)]
    return any(f.find_spec("kfp", None) for f in finders if hasattr(f, "find_spec"))


@contextmanager
def kfp_alias(*, force: bool = False) -> Iterator[bool]:
    """Within the block, `import kfp` gives Pinnace (unless the real kfp is installed).

    Yields whether the alias is active. `force=True` aliases even when kfp is installed.
    """
    if not force and real_kfp_installed():
        yield False
        return
    saved = {name: sys.modules.pop(name) for name in list(sys.modules)
             if name == "kfp" or name.startswith("kfp.")}
    finder = _AliasFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield True
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "kfp" or n.startswith("kfp.")]:
            del sys.modules[name]
        sys.modules.update(saved)
