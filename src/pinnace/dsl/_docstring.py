"""A small Google-style docstring reader: the description and per-argument texts."""

from __future__ import annotations

import re

_SECTION = re.compile(r"^(\w+( \w+)?):\s*$")
ARG_SECTIONS = frozenset({"args", "arguments", "parameters", "params"})
RETURN_SECTIONS = frozenset({"returns", "return"})
_PARAM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def description(doc: str | None) -> str | None:
    """Short description, joined to the long one by a newline (kfp's pipeline description)."""
    if not doc:
        return None
    lines = doc.strip("\n").splitlines()
    body: list[str] = []
    for line in lines:
        if _SECTION.match(line.strip()) and not line.startswith(" "):
            break
        body.append(line)
    text = "\n".join(body).strip()
    if not text:
        return None
    short, _, long = text.partition("\n")
    long = long.strip()
    return f"{short.strip()}\n{long}" if long else short.strip()


def param_descriptions(doc: str | None, sections: frozenset[str] = ARG_SECTIONS) -> dict[str, str]:
    """`{name: description}` from the given sections (Args by default) of a docstring."""
    found: dict[str, str] = {}
    if not doc:
        return found
    in_params = False
    current: str | None = None
    indent = None
    for raw in doc.splitlines():
        stripped = raw.strip()
        header = _SECTION.match(stripped)
        if header and not raw.startswith(" "):
            in_params = header.group(1).lower() in sections
            current, indent = None, None
            continue
        if not in_params or not stripped:
            continue
        level = len(raw) - len(raw.lstrip())
        match = _PARAM.match(stripped)
        if match and (indent is None or level <= indent):
            indent = level
            current = match.group(1)
            found[current] = match.group(3).strip()
        elif current is not None:
            found[current] = f"{found[current]}\n{stripped}".strip()
    return found
