"""Let code written for kfp (`import kfp`, `from kfp.components import ...`) run on Pinnace.

While a pipeline file is loaded by `pinnace run`/`pinnace compile`, and only when the real
kfp SDK is not installed, `kfp`, `kfp.dsl`, `kfp.compiler`, `kfp.components` (and kfp 1.8's
`kfp.v2.*`) resolve to Pinnace's modules. `kfp.pipeline_spec` (the protos of the
kfp-pipeline-spec package, which shares the `kfp` namespace) keeps resolving to the real
package. Nothing is changed at import time.
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
    "kfp.dsl": "pinnace.dsl",
    "kfp.compiler": "pinnace.compiler",
    "kfp.components": "pinnace.components",
    "kfp.v2.dsl": "pinnace.dsl",
    "kfp.v2.compiler": "pinnace.compiler",
}
_KEEP_PREFIX = "kfp.pipeline_spec"


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _ALIASES:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(_ALIASES[fullname]))


def _kfp_spec() -> importlib.machinery.ModuleSpec | None:
    finders = [f for f in sys.meta_path if not isinstance(f, _AliasFinder)]
    for finder in finders:
        find = getattr(finder, "find_spec", None)
        spec = find("kfp", None) if find else None
        if spec is not None:
            return spec
    return None


def real_kfp_installed() -> bool:
    """Whether the kfp SDK is importable (not just the `kfp` namespace of kfp-pipeline-spec)."""
    spec = _kfp_spec()
    return spec is not None and spec.origin not in (None, "namespace")


def _proxy(name: str) -> ModuleType:
    import pinnace

    module = ModuleType(name, "Pinnace standing in for the kfp SDK.")
    module.__version__ = pinnace.__version__  # type: ignore[attr-defined]
    for attr in ("dsl", "compiler", "components"):
        setattr(module, attr, importlib.import_module(f"pinnace.{attr}"))
    return module


@contextmanager
def kfp_alias(*, force: bool = False) -> Iterator[bool]:
    """Within the block, `import kfp` gives Pinnace (unless the real kfp is installed).

    Yields whether the alias is active. `force=True` aliases even when kfp is installed.
    """
    if not force and real_kfp_installed():
        yield False
        return
    namespace = _kfp_spec()
    saved = {
        name: sys.modules.pop(name)
        for name in list(sys.modules)
        if (name == "kfp" or name.startswith("kfp.")) and not name.startswith(_KEEP_PREFIX)
    }
    root = _proxy("kfp")
    # Keep the real `kfp` folders on the path so `kfp.pipeline_spec` (the protos) still
    # imports; the aliased names are served first by the finder below.
    locations = namespace.submodule_search_locations if namespace is not None else None
    root.__path__ = list(locations or [])  # type: ignore[attr-defined]
    if _KEEP_PREFIX in sys.modules:
        root.pipeline_spec = sys.modules[_KEEP_PREFIX]  # type: ignore[attr-defined]
    v2 = _proxy("kfp.v2")
    v2.__path__ = []  # type: ignore[attr-defined]
    root.v2 = v2  # type: ignore[attr-defined]
    sys.modules["kfp"], sys.modules["kfp.v2"] = root, v2
    finder = _AliasFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield True
    finally:
        sys.meta_path.remove(finder)
        for name in [
            n
            for n in sys.modules
            if (n == "kfp" or n.startswith("kfp.")) and not n.startswith(_KEEP_PREFIX)
        ]:
            del sys.modules[name]
        sys.modules.update(saved)
