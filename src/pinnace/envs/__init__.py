"""Task environments: requirement normalization, the uv-built environment cache, and
recognition of lightweight components' commands."""

from __future__ import annotations

from .cache import Environment, EnvironmentCache
from .commands import LightweightProgram, recognize_command
from .indexes import IndexConfig, resolve_indexes
from .requirements import (
    NormalizedRequirements,
    RequirementFix,
    normalize_requirements,
)

__all__ = [
    "Environment",
    "EnvironmentCache",
    "IndexConfig",
    "LightweightProgram",
    "NormalizedRequirements",
    "RequirementFix",
    "normalize_requirements",
    "recognize_command",
    "resolve_indexes",
]
