"""Let code written for kfp (`import kfp`, `from kfp.components import ...`) run on Pinnace.

While a pipeline file is loaded by `pinnace run`/`pinnace compile`, and only when the real
kfp SDK is not installed, `kfp`, `kfp.dsl`, `kfp.compiler`, `kfp.components`, `kfp.local`,
`kfp.kubernetes`, `kfp.Client` (and kfp 1.8's `kfp.v2.*`) resolve to Pinnace's modules.
`kfp.pipeline_spec` (the protos of the kfp-pipeline-spec package, which shares the `kfp`
namespace) keeps resolving to the real package. Nothing is changed at import time.

`activate()` does the same for the rest of a process, even where kfp is installed: a
kfp-based script or test suite runs on Pinnace unchanged when its `conftest.py` (or first
line) calls it, or when it is started with `pinnace exec -- pytest ...`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType

_ALIASES = {
    "kfp.dsl": "pinnace.dsl",
    "kfp.dsl.types": "pinnace.dsl.types",
    "kfp.dsl.types.artifact_types": "pinnace.dsl.types.artifact_types",
    "kfp.dsl.types.type_annotations": "pinnace.dsl.types.type_annotations",
    "kfp.dsl.base_component": "pinnace.dsl.base_component",
    "kfp.compiler": "pinnace.compiler",
    "kfp.components": "pinnace.components",
    "kfp.local": "pinnace.local",
    "kfp.client": "pinnace.client",
    "kfp.v2.dsl": "pinnace.dsl",
    "kfp.v2.compiler": "pinnace.compiler",
}
#: aliased only when Pinnace has the module (kfp-kubernetes' stand-in)
_OPTIONAL = {"kfp.kubernetes": "pinnace.kubernetes"}
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
        target_name = _ALIASES.get(fullname) or _OPTIONAL.get(fullname)
        if target_name is None or importlib.util.find_spec(target_name) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target_name))


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
    for attr in ("dsl", "compiler", "components", "local"):
        setattr(module, attr, importlib.import_module(f"pinnace.{attr}"))
    return module


def _lazy_root(name: str) -> ModuleType:
    """The `kfp` stand-in: `kfp.Client` and `kfp.kubernetes` load on first use."""
    module = _proxy(name)

    def __getattr__(attr: str) -> object:
        if attr == "Client":
            # kfp.Client is kfp.client.Client; that name is aliased to pinnace.client
            return importlib.import_module(f"{name}.client").Client
        if attr in ("kubernetes", "client"):
            return importlib.import_module(f"{name}.{attr}")
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


@contextmanager
def kfp_alias(*, force: bool = False) -> Iterator[bool]:
    """Within the block, `import kfp` gives Pinnace (unless the real kfp is installed).

    Yields whether the alias is active. `force=True` aliases even when kfp is installed.
    """
    if _active or (not force and real_kfp_installed()):
        yield bool(_active)
        return
    restore = _install()
    try:
        yield True
    finally:
        restore()


#: set by `activate()`: the alias stays for the rest of the process
_active: list[bool] = []


def activate() -> None:
    """Make `import kfp` mean Pinnace for the rest of this process, kfp installed or not.

    Call it before anything imports kfp, e.g. first thing in a `conftest.py`::

        import pinnace.kfp_alias
        pinnace.kfp_alias.activate()

    Then `from kfp import dsl, compiler, components, local, kubernetes, Client` are
    Pinnace's, and a kfp test suite that uses `kfp.local` runs its pipelines on Pinnace.
    `pinnace exec -- COMMAND` starts COMMAND with this already done.
    """
    if not _active:
        _install()
        _active.append(True)


def _install() -> Callable[[], None]:
    namespace = _kfp_spec()
    saved = {
        name: sys.modules.pop(name)
        for name in list(sys.modules)
        if (name == "kfp" or name.startswith("kfp.")) and not name.startswith(_KEEP_PREFIX)
    }
    root = _lazy_root("kfp")
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

    def restore() -> None:
        sys.meta_path.remove(finder)
        for name in [
            n
            for n in sys.modules
            if (n == "kfp" or n.startswith("kfp.")) and not n.startswith(_KEEP_PREFIX)
        ]:
            del sys.modules[name]
        sys.modules.update(saved)

    return restore
