"""Task environments: requirement normalization, the uv-built environment cache, and
recognition of lightweight components' commands."""

from __future__ import annotations

from pinnace.envs.cache import Environment, EnvironmentCache
from pinnace.envs.commands import LightweightProgram, recognize_command
from pinnace.envs.indexes import IndexConfig, resolve_indexes
from pinnace.envs.requirements import (
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
