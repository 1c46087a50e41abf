"""Normalize a component's `packages_to_install` into a sorted, de-duplicated requirement list."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import UserInputError

# Names that are on PyPI only as placeholders that fail to install on purpose, or that are
# import names of a package published under another name (no distribution of that name exists).
# Each was checked against PyPI; add only names with one unambiguous replacement.
KNOWN_BAD_NAMES: dict[str, tuple[str, str]] = {
    "sklearn": (
        "scikit-learn",
        "'sklearn' is a deprecated PyPI placeholder that fails to install",
    ),
    "skimage": (
        "scikit-image",
        "'skimage' is a PyPI placeholder that fails to install",
    ),
    "pil": ("pillow", "'PIL' is the import name of the 'pillow' distribution"),
    "yaml": ("pyyaml", "'yaml' is the import name of the 'pyyaml' distribution"),
}

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"""^(?P<name>{_NAME})\s*
    (?:\[(?P<extras>[^\]]*)\])?\s*
    (?:@\s*(?P<url>\S+)\s*|(?P<specs>[^;@\[\]]*))
    (?:;\s*(?P<marker>.*))?$""",
    re.VERBOSE,
)
_SPECIFIER = re.compile(r"^(~=|===|==|!=|<=|>=|<|>)\s*([A-Za-z0-9][A-Za-z0-9.*+!_-]*)$")
_DIRECT_REFERENCE = re.compile(r"^(?:(?:git|hg|svn|bzr)\+)?[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)
_LOCAL_PATH_PREFIXES = ("/", "./", "../", "~/")


@dataclass(frozen=True)
class RequirementFix:
    """A requirement Pinnace replaced because the name as written cannot install."""

    original: str
    replacement: str
    reason: str

    def __str__(self) -> str:
        return f"replaced {self.original!r} with {self.replacement!r} ({self.reason})"


@dataclass(frozen=True)
class NormalizedRequirements:
    """The result of `normalize_requirements`: requirements plus the fixes made on the way."""

    requirements: tuple[str, ...]
    fixes: tuple[RequirementFix, ...] = ()


def canonical_name(name: str) -> str:
    """The PEP 503 normalized form of a distribution name: `Foo_Bar.baz` -> `foo-bar-baz`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str | None:
    """The normalized distribution name of `requirement`, or None for a bare URL or path."""
    text = requirement.strip()
    if _is_direct_reference(text):
        return None
    match = _REQUIREMENT.match(text)
    return canonical_name(match["name"]) if match else None


def normalize_requirements(packages: Iterable[str]) -> NormalizedRequirements:
    """Normalize, fix and de-duplicate requirement strings; sort them by name.

    Example:
        >>> normalize_requirements(["Six >= 1.0", "sklearn", "six>=1.0"]).requirements
        ('scikit-learn', 'six>=1.0')

    Raises `UserInputError` naming the package when a string is not a requirement.
    """
    normalized: set[str] = set()
    fixes: list[RequirementFix] = []
    for package in packages:
        text, fix = normalize_requirement(package)
        normalized.add(text)
        if fix is not None:
            fixes.append(fix)
    ordered = sorted(normalized, key=lambda r: (requirement_name(r) is None, r))
    return NormalizedRequirements(tuple(ordered), tuple(dict.fromkeys(fixes)))


def normalize_requirement(package: str) -> tuple[str, RequirementFix | None]:
    """Normalize one requirement string; returns it and the fix applied, if any."""
    if not isinstance(package, str):
        raise UserInputError(
            f"package {package!r} is not a string",
            hint="packages_to_install takes strings such as 'pandas>=2.0'",
        )
    text = package.strip()
    if _is_direct_reference(text):
        return text, None
    match = _REQUIREMENT.match(text)
    if not text or text.startswith("-") or match is None:
        raise _malformed(package, "it is not a PEP 508 requirement")
    name = canonical_name(match["name"])
    fix = None
    if name in KNOWN_BAD_NAMES:
        replacement, reason = KNOWN_BAD_NAMES[name]
        fix = RequirementFix(match["name"], replacement, reason)
        name = replacement
    result = name + _extras(package, match["extras"])
    if match["url"]:
        result += f" @ {match['url']}"
    else:
        result += _specifiers(package, match["specs"])
    marker = match["marker"]
    if marker is not None:
        if not marker.strip():
            raise _malformed(package, "the environment marker after ';' is empty")
        result += ("; " if not match["url"] else " ; ") + " ".join(marker.split())
    return result, fix


def _is_direct_reference(text: str) -> bool:
    return bool(_DIRECT_REFERENCE.match(text)) or text.startswith(_LOCAL_PATH_PREFIXES)


def _extras(package: str, extras: str | None) -> str:
    if extras is None:
        return ""
    names = [e.strip() for e in extras.split(",") if e.strip()]
    for extra in names:
        if not re.fullmatch(_NAME, extra):
            raise _malformed(package, f"extra {extra!r} is not a valid name")
    return f"[{','.join(sorted({canonical_name(e) for e in names}))}]" if names else ""


def _specifiers(package: str, specs: str | None) -> str:
    text = (specs or "").strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    if not text:
        return ""
    parts = []
    for part in text.split(","):
        match = _SPECIFIER.match(part.strip())
        if match is None:
            raise _malformed(package, f"version specifier {part.strip()!r} is not valid")
        parts.append(match[1] + match[2])
    return ",".join(sorted(set(parts)))


def _malformed(package: str, why: str) -> UserInputError:
    return UserInputError(
        f"package {package!r}: {why}",
        hint="write packages as 'name', 'name==1.2', 'name[extra]>=1,<2' or 'name @ https://...'",
    )


__all__ = [
    "KNOWN_BAD_NAMES",
    "NormalizedRequirements",
    "RequirementFix",
    "canonical_name",
    "normalize_requirement",
    "normalize_requirements",
    "requirement_name",
]
