"""Reads a component function's docstring the way kfp 1.8 does (via docstring_parser).

kfp takes the description from the docstring's first line and input/output descriptions
from a Google-style ``Args:`` section or reST ``:param name:`` fields. Like
docstring_parser's automatic mode, both styles are tried and the one that finds more
fields wins (reST on a tie). NumPy and Epydoc parameter sections are not read.
"""

from __future__ import annotations

import inspect
import re

_PARAM_KEYWORDS = {"param", "parameter", "arg", "argument", "attribute", "key", "keyword"}
_GOOGLE_TITLES = {
    "Arguments": "param", "Args": "param", "Parameters": "param", "Params": "param",
    "Raises": "multi", "Exceptions": "multi", "Except": "multi", "Attributes": "multi",
    "Example": "single", "Examples": "single", "Returns": "single", "Yields": "single",
}  # fmt: skip
_GOOGLE_TITLE_RE = re.compile(
    "^(" + "|".join(f"({t})" for t in _GOOGLE_TITLES) + r"):[ \t\r\f\v]*$", flags=re.M
)
_GOOGLE_TYPED_ARG = re.compile(r"\s*(.+?)\s*\(\s*(.*[^\s]+)\s*\)")

# (short description, {parameter name: description}, number of fields found)
_Parsed = tuple["str | None", dict[str, str], int]


def parse_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """Return (short description, {parameter name: description}) of a docstring."""
    if not doc:
        return None, {}
    text = inspect.cleandoc(doc)
    candidates = [parsed for parsed in (_parse_rest(text), _parse_google(text)) if parsed]
    if not candidates:
        return text.split("\n", 1)[0] or None, {}
    best = max(candidates, key=lambda parsed: parsed[2])  # first wins a tie, as in kfp
    return best[0], best[1]


def _first_line(chunk: str) -> str | None:
    return chunk.split("\n", 1)[0] or None


def _parse_rest(text: str) -> _Parsed | None:
    match = re.search("^:", text, flags=re.M)
    if not match:
        return _first_line(text), {}, 0
    params: dict[str, str] = {}
    count = 0
    for field in re.finditer(r"(^:.*?)(?=^:|\Z)", text[match.start() :], flags=re.S | re.M):
        chunk = field.group(0)
        if ":" not in chunk.lstrip(":"):
            return None  # docstring_parser rejects the reST reading of this docstring
        names, desc = chunk.lstrip(":").split(":", 1)
        args, desc = names.split(), desc.strip()
        if "\n" in desc:
            first, rest = desc.split("\n", 1)
            desc = first + "\n" + inspect.cleandoc(rest)
        if (len(args) == 2 and args[0] == "type") or (args and args[0] == "rtype"):
            continue
        if args and args[0] in _PARAM_KEYWORDS:
            if len(args) not in (2, 3):
                return None
            params[args[-1]] = desc
        count += 1
    return _first_line(text[: match.start()]), params, count


def _parse_google(text: str) -> _Parsed | None:
    match = _GOOGLE_TITLE_RE.search(text)
    if not match:
        return _first_line(text), {}, 0
    meta = text[match.start() :]
    titles = list(_GOOGLE_TITLE_RE.finditer(meta))
    params: dict[str, str] = {}
    count = 0
    for j, title in enumerate(titles):
        end = titles[j + 1].start() if j + 1 < len(titles) else len(meta)
        chunk = meta[title.end() : end]
        unknown = re.search(r"\n\S", chunk)  # a non-indented line ends the section
        chunk = (chunk[: unknown.start()] if unknown else chunk).strip("\n")
        kind = _GOOGLE_TITLES[title.group(1)]
        if kind == "single":
            count += 1
            continue
        indent = re.match(r"^\s*", chunk).group()  # type: ignore[union-attr]
        starts = list(re.finditer("^" + indent + r"(?=\S)", chunk, flags=re.M))
        if not starts:
            return None
        for k, start in enumerate(starts):
            stop = starts[k + 1].start() if k + 1 < len(starts) else len(chunk)
            part = chunk[start.end() : stop].strip("\n")
            if ":" not in part:
                return None
            count += 1
            if kind == "param":
                name, desc = _google_param(part)
                params[name] = desc
    return _first_line(text[: match.start()]), params, count


def _google_param(part: str) -> tuple[str, str]:
    before, desc = part.split(":", 1)
    if "\n" in before:
        first, rest = before.split("\n", 1)
        before = first + inspect.cleandoc(rest)
    if desc:
        desc = desc[1:] if desc[0] == " " else desc
        if "\n" in desc:
            first, rest = desc.split("\n", 1)
            desc = first + "\n" + inspect.cleandoc(rest)
        desc = desc.strip("\n")
    typed = _GOOGLE_TYPED_ARG.match(before)
    return (typed.group(1) if typed else before), desc
