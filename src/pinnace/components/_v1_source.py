"""The source text of a kfp 1.x component function, cleaned up the way kfp 1.8 does it."""

from __future__ import annotations

import ast
import inspect
import io
import textwrap
import tokenize
from collections.abc import Callable, Iterator

from ..errors import PipelineSourceError

_OPEN_BRACKETS = {"(", "[", "{"}
_CLOSE_BRACKETS = {")", "]", "}"}
# Tokens that carry no code: lib2to3 keeps them in the *next* token's prefix, so they
# survive when the annotation in front of them is deleted.
_TRIVIA = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def function_source(func: Callable) -> str:
    """Return the function's definition: dedented, decorators dropped, type hints stripped.

    kfp 1.8 copies this text into the component program, so it must match kfp's byte
    for byte: annotations of every ``def`` parameter and return value are removed (they
    name classes such as ``InputPath`` that do not exist in the task's image), nothing else.
    """
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError) as exc:
        raise PipelineSourceError(
            f"cannot read the source of function {getattr(func, '__name__', func)!r}: {exc}",
            path=getattr(getattr(func, "__code__", None), "co_filename", None),
            hint="define the component function in a .py file (not in an interactive shell).",
        ) from exc
    lines = textwrap.dedent(text).split("\n")
    # Decorators (possibly several lines each) come before the first line starting "def".
    start = next((i for i, line in enumerate(lines) if line.startswith("def")), len(lines))
    return strip_type_hints("\n".join(lines[start:]))


def strip_type_hints(source: str) -> str:
    """Remove parameter and return annotations from every function defined in `source`."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError, IndentationError):
        # kfp 1.8 also falls back to the unchanged text when it cannot parse it.
        return source
    offsets = _LineOffsets(source)
    by_start = {offsets.of(tok.start): i for i, tok in enumerate(tokens)}
    spans: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans.extend(_annotation_spans(node, tokens, by_start, offsets))
    for begin, end in sorted(spans, reverse=True):
        source = source[:begin] + source[end:]
    return source


def _annotation_spans(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    tokens: list[tokenize.TokenInfo],
    by_start: dict[int, int],
    offsets: _LineOffsets,
) -> Iterator[tuple[int, int]]:
    args = node.args
    params = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
    for param in params:
        if param is None or param.annotation is None:
            continue
        name_index = by_start[offsets.of_ast(param.lineno, param.col_offset)]
        # Delete from the end of the name through the annotation: `a: int = 1` -> `a = 1`.
        end = _end_of_expression(tokens, name_index + 2, stop={",", "=", ")"})
        yield offsets.of(tokens[name_index].end), offsets.of(end)
    if node.returns is not None:
        index = by_start[offsets.of_ast(node.returns.lineno, node.returns.col_offset)]
        while tokens[index].string != "->":
            index -= 1
        before = index - 1
        while tokens[before].type in _TRIVIA:
            before -= 1
        # `) -> float:` -> `):` (the space before `->` goes with it, as in lib2to3).
        end = _end_of_expression(tokens, index + 1, stop={":"})
        yield offsets.of(tokens[before].end), offsets.of(end)


def _end_of_expression(
    tokens: list[tokenize.TokenInfo], index: int, stop: set[str]
) -> tuple[int, int]:
    """End position of the expression starting at tokens[index], ended by a `stop` token."""
    depth = 0
    end = tokens[index].end
    for tok in tokens[index:]:
        if depth == 0 and tok.type == tokenize.OP and tok.string in stop:
            break
        if tok.type in _TRIVIA:
            continue
        if tok.string in _OPEN_BRACKETS:
            depth += 1
        elif tok.string in _CLOSE_BRACKETS:
            depth -= 1
        end = tok.end
    return end


class _LineOffsets:
    """Converts (line, column) positions into offsets in the source string."""

    def __init__(self, source: str) -> None:
        self._lines = source.splitlines(keepends=True)
        self._starts = [0]
        for line in self._lines:
            self._starts.append(self._starts[-1] + len(line))

    def of(self, position: tuple[int, int]) -> int:
        row, col = position
        return self._starts[row - 1] + col

    def of_ast(self, lineno: int, byte_col: int) -> int:
        # ast columns count UTF-8 bytes; tokenize columns count characters.
        line = self._lines[lineno - 1]
        return self._starts[lineno - 1] + len(line.encode()[:byte_col].decode())
