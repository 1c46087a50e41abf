"""The KFP pipeline-spec protos (`kfp.pipeline_spec.pipeline_spec_pb2`), loaded without the kfp SDK.

The kfp-pipeline-spec package puts its module inside the `kfp` package. Where the kfp SDK is
installed too, `from kfp.pipeline_spec import pipeline_spec_pb2` first runs the SDK's
`kfp/__init__.py`, which imports its client, kubernetes and google.auth: about half a second
that compiling or validating a spec does not need. `pipeline_spec_pb2()` loads the two modules
under their own names without running it. A later `import kfp` in the same process finds them
in `sys.modules` (the protos are registered once, the module objects are the same) and gets its
`pipeline_spec` attribute from `_LinkToSdk`, as if it had imported them itself.

    >>> pipeline_spec_pb2().PipelineSpec()   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType

_PACKAGE = "kfp.pipeline_spec"
_MODULE = f"{_PACKAGE}.pipeline_spec_pb2"
_lock = threading.Lock()
#: the module once wholly loaded. Not `sys.modules`: `_load` puts a module there before it
#: runs (as the import system does), and a thread that took it from there meanwhile would
#: get it half made (no `PipelineSpec` yet).
_loaded: ModuleType | None = None


def pipeline_spec_pb2() -> ModuleType:
    """The `pipeline_spec_pb2` module of kfp-pipeline-spec, imported once per process; safe
    to call from several threads at once (each gets the module whole)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            _loaded = _import()
        return _loaded


def _import() -> ModuleType:
    if _MODULE in sys.modules or "kfp" in sys.modules:
        # Imported by the import system (its module lock makes another thread's import in
        # progress wait), or `kfp` is the SDK, Pinnace's kfp alias or the bare namespace.
        return importlib.import_module(_MODULE)
    kfp = importlib.util.find_spec("kfp")
    if kfp is None or kfp.origin in (None, "namespace"):
        # Only kfp-pipeline-spec: `kfp` is a namespace package, importing it runs nothing.
        return importlib.import_module(_MODULE)
    return _load_beside_sdk(kfp.submodule_search_locations or [])


def _load_beside_sdk(kfp_path: list[str]) -> ModuleType:
    package = _load(_PACKAGE, kfp_path)
    module = _load(_MODULE, list(package.__path__))
    package.pipeline_spec_pb2 = module  # type: ignore[attr-defined]
    sys.meta_path.insert(0, _LinkToSdk())
    return module


def _load(name: str, path: list[str]) -> ModuleType:
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class _LinkToSdk(importlib.abc.MetaPathFinder):
    """When the kfp SDK is imported after its protos were, give it its `pipeline_spec`
    attribute: the import system sets it only on loading the submodule itself."""

    def find_spec(
        self, fullname: str, path: object, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "kfp":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find("kfp", None) if finder is not self and find else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _LinkingLoader(spec.loader, self)
                return spec
        return None


class _LinkingLoader(importlib.abc.Loader):
    """The SDK's own loader, run after setting `kfp.pipeline_spec` on the new module."""

    def __init__(self, loader: importlib.abc.Loader, finder: _LinkToSdk) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # From here on the module looks as if the SDK's loader had loaded it unassisted.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        package = sys.modules.get(_PACKAGE)
        if package is not None:
            module.pipeline_spec = package  # type: ignore[attr-defined]
        self.loader.exec_module(module)
        if self.finder in sys.meta_path:  # linked: later imports of kfp find it in sys.modules
            sys.meta_path.remove(self.finder)
