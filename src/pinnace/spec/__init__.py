"""Loading and validating pipeline specs (KFP IR YAML/JSON, kfp 1.x Argo import).

Importing this package loads nothing: its names load from their modules on first use, so
`pinnace.spec.protos` serves the compiler without PyYAML or the validators.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .argo import convert_argo_workflow, is_argo_workflow
    from .load import LoadedSpec, load_spec
    from .validate import SpecProblem, check_spec, validate_platform_spec, validate_spec
    from .yaml_safe import YamlLimits, load_documents

_LAZY = {
    "LoadedSpec": ".load",
    "SpecProblem": ".validate",
    "YamlLimits": ".yaml_safe",
    "check_spec": ".validate",
    "convert_argo_workflow": ".argo",
    "is_argo_workflow": ".argo",
    "load_documents": ".yaml_safe",
    "load_spec": ".load",
    "validate_platform_spec": ".validate",
    "validate_spec": ".validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LoadedSpec",
    "SpecProblem",
    "YamlLimits",
    "check_spec",
    "convert_argo_workflow",
    "is_argo_workflow",
    "load_documents",
    "load_spec",
    "validate_platform_spec",
    "validate_spec",
]
