"""A bounded safe YAML/JSON loader: refuses alias bombs, deep nesting and oversized documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import SpecError

__all__ = ["DEFAULT_LIMITS", "YamlLimits", "check_tree", "load_documents", "spec_error"]

_HINT = "check that the file is a pipeline spec written by a compiler (kfp or pinnace)"


@dataclass(frozen=True)
class YamlLimits:
    """Caps applied before any Python object is built.

    `max_nodes` counts nodes *after* alias expansion, so a billion-laughs document is refused
    while it is being scanned, long before it could be walked or serialised.
    """

    max_bytes: int = 32 * 1024 * 1024
    max_depth: int = 100
    max_nodes: int = 2_000_000
    max_aliases: int = 10_000


DEFAULT_LIMITS = YamlLimits()


def spec_error(
    message: str,
    *,
    path: str | None = None,
    line: int | None = None,
    field: str | None = None,
    hint: str | None = None,
) -> SpecError:
    """Build a SpecError whose location reads `file:line`; `.line` holds the 1-based line."""
    where = f"{path}:{line}" if path and line else (path or (f"line {line}" if line else None))
    err = SpecError(message, field=field, path=where, hint=hint)
    err.line = line  # type: ignore[attr-defined]
    err.file = path  # type: ignore[attr-defined]
    return err


def _loader_class() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _SpecLoader(base):  # type: ignore[misc, valid-type]
        """Safe loader that keeps timestamps as strings, so the result stays JSON-like."""

    _SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
    return _SpecLoader


_LOADER: type | None = None


def _loader() -> type:
    global _LOADER
    if _LOADER is None:
        _LOADER = _loader_class()
    return _LOADER


def load_documents(
    source: str | bytes, *, path: str | None = None, limits: YamlLimits = DEFAULT_LIMITS
) -> list[Any]:
    """Parse every document of a YAML (or JSON) text within `limits`.

    Raises SpecError (with `file:line` where known) for syntax errors and for documents over
    a limit. Example: ``load_documents("a: 1\\n---\\nb: 2")`` → ``[{"a": 1}, {"b": 2}]``.
    """
    size = len(source)
    if size > limits.max_bytes:
        raise spec_error(
            f"document is {size} bytes, over the limit of {limits.max_bytes} bytes",
            path=path,
            hint="pipeline specs are small; raise YamlLimits.max_bytes if this one is real",
        )
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise spec_error(f"not UTF-8 text ({exc.reason})", path=path, hint=_HINT) from None
    else:
        text = source
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        doc = _try_json(stripped, path, limits)
        if doc is not _NOT_JSON:
            return [doc]
    _scan_events(text, path, limits)
    try:
        return list(yaml.load_all(text, Loader=_loader()))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    except RecursionError:
        raise spec_error("nesting is too deep to load", path=path, hint=_HINT) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise spec_error(f"a value cannot be loaded: {str(exc)[:120]}", path=path) from None


_NOT_JSON = object()


def _try_json(text: str, path: str | None, limits: YamlLimits) -> Any:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise spec_error("nesting is too deep to load", path=path, hint=_HINT) from None
    except ValueError:
        return _NOT_JSON  # maybe YAML flow style; the YAML path reports real errors
    check_tree(doc, path, limits)
    return doc


def check_tree(doc: Any, path: str | None, limits: YamlLimits = DEFAULT_LIMITS) -> None:
    """Iterative depth/size walk of an already-built JSON tree (JSON has no aliases)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > limits.max_depth:
            raise _too_deep(limits, path, None)
        if nodes > limits.max_nodes:
            raise _too_many(limits, path, None)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _scan_events(text: str, path: str | None, limits: YamlLimits) -> None:
    """Walk the parser's event stream (libyaml's parser is not recursive) and enforce limits.

    Each open collection is a frame counting the expanded nodes inside it; an alias adds the
    expanded size of the node its anchor names, so repeated aliases of aliases grow the count
    exactly as expansion would, without building anything.
    """
    sizes: dict[str, int] = {}
    frames: list[list[Any]] = []  # [expanded_count, anchor]
    total = 0
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=_loader()):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.CollectionStartEvent):
                frames.append([1, event.anchor])
                if len(frames) > limits.max_depth:
                    raise _too_deep(limits, path, line)
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                count, anchor = frames.pop()
            elif isinstance(event, yaml.ScalarEvent):
                count, anchor = 1, event.anchor
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > limits.max_aliases:
                    raise spec_error(
                        f"more than {limits.max_aliases} YAML aliases",
                        path=path,
                        line=line,
                        hint=_HINT,
                    )
                if event.anchor not in sizes:
                    raise spec_error(
                        f"alias *{event.anchor} refers to an undefined or enclosing anchor",
                        path=path,
                        line=line,
                        hint=_HINT,
                    )
                count, anchor = sizes[event.anchor], None
            else:
                continue
            if anchor:
                sizes[anchor] = count
            if frames:
                frames[-1][0] += count
                if frames[-1][0] > limits.max_nodes:
                    raise _too_many(limits, path, line)
            else:
                total += count
                if total > limits.max_nodes:
                    raise _too_many(limits, path, line)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None


def _too_deep(limits: YamlLimits, path: str | None, line: int | None) -> SpecError:
    return spec_error(
        f"nesting deeper than {limits.max_depth} levels", path=path, line=line, hint=_HINT
    )


def _too_many(limits: YamlLimits, path: str | None, line: int | None) -> SpecError:
    return spec_error(
        f"more than {limits.max_nodes} nodes once aliases are expanded (a YAML alias bomb?)",
        path=path,
        line=line,
        hint=_HINT,
    )


def _yaml_error(exc: yaml.YAMLError, path: str | None) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return spec_error(f"not valid YAML: {problem}", path=path, line=line, hint=_HINT)
