"""Loading and validating pipeline specs (KFP IR YAML/JSON, kfp 1.x Argo import)."""

from __future__ import annotations

from .argo import convert_argo_workflow, is_argo_workflow
from .load import LoadedSpec, load_spec
from .validate import SpecProblem, check_spec, validate_platform_spec, validate_spec
from .yaml_safe import YamlLimits, load_documents

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
