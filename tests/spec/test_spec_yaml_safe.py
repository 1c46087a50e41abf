"""Tests for the bounded YAML/JSON loader."""

from __future__ import annotations

import pytest

from pinnace.errors import SpecError
from pinnace.spec.yaml_safe import YamlLimits, load_documents


def _billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        refs = ",".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_multi_document_yaml_and_json_load_as_plain_data() -> None:
    docs = load_documents("a: 1\nwhen: 2021-01-01\n---\nb: [x, &n {c: 3}, *n]\n")
    assert docs == [{"a": 1, "when": "2021-01-01"}, {"b": ["x", {"c": 3}, {"c": 3}]}]
    assert load_documents(b'{"schemaVersion": "2.1.0", "x": [1, 2.5]}') == [
        {"schemaVersion": "2.1.0", "x": [1, 2.5]}
    ]


# Unbounded, these inputs take hours or all memory: a hang fails by the timeout.
@pytest.mark.timeout(60)
def test_billion_laughs_is_refused_with_a_line() -> None:
    with pytest.raises(SpecError, match="alias bomb") as info:
        load_documents(_billion_laughs(), path="bomb.yaml")
    assert info.value.line is not None and "bomb.yaml:" in str(info.value)


def test_small_alias_use_is_allowed_but_alias_count_is_capped() -> None:
    assert load_documents(_billion_laughs(2))[0]["a2"][0][0][0] == "lol"
    with pytest.raises(SpecError, match="aliases"):
        load_documents(_billion_laughs(2), limits=YamlLimits(max_aliases=5))


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="undefined or enclosing anchor"):
        load_documents("x: &a [1, *a]\n")


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 50_000 + "]" * 50_000 + "\n",  # YAML flow, not JSON
        "[" * 50_000 + "]" * 50_000,  # JSON
        "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n",  # block
    ],
)
@pytest.mark.timeout(60)
def test_deep_nesting_is_refused(text: str) -> None:
    with pytest.raises(SpecError, match=r"nesting|deeper"):
        load_documents(text, path="deep.yaml")


@pytest.mark.timeout(60)
def test_oversized_document_is_refused_before_parsing() -> None:
    with pytest.raises(SpecError, match="over the limit"):
        load_documents("a: " + "x" * 2000, limits=YamlLimits(max_bytes=1000))
    big = "a: 1\n" * (7 * 1024 * 1024)  # 35 MiB, over the 32 MiB default
    with pytest.raises(SpecError, match="over the limit"):
        load_documents(big)


def test_node_limit_counts_plain_nodes_too() -> None:
    with pytest.raises(SpecError, match="nodes"):
        load_documents("[" + ",".join(["1"] * 200) + "]\n- x", limits=YamlLimits(max_nodes=100))
    with pytest.raises(SpecError, match="nodes"):
        load_documents("[" + ",".join(["1"] * 200) + "]", limits=YamlLimits(max_nodes=100))


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(SpecError) as info:
        load_documents("a: 1\nb: [1, 2\nc: 3\n", path="bad.yaml")
    assert info.value.line in (2, 3, 4)
    assert str(info.value).startswith(f"bad.yaml:{info.value.line}: not valid YAML")


def test_non_utf8_bytes_are_a_spec_error() -> None:
    with pytest.raises(SpecError, match="UTF-8"):
        load_documents(b"a: \xff\xfe\n")
