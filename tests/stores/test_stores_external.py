"""Importer copies: fetched once per version of the object, fetched again when it changes."""

from __future__ import annotations

import fsspec
import pytest

from pinnace.errors import StoreError
from pinnace.stores.external import local_copy


@pytest.fixture
def memory():
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists("/health-importer"):
        fs.rm("/health-importer", recursive=True)


def test_a_changed_object_is_fetched_again_an_unchanged_one_is_not(memory, tmp_path):
    uri = "memory://health-importer/latest.csv"
    memory.pipe(uri, b"a\n1\n")
    first = local_copy(uri, tmp_path)
    assert first.read_bytes() == b"a\n1\n"
    assert local_copy(uri, tmp_path) == first  # same version: the same copy, no fetch
    memory.pipe(uri, b"a\n1\n2\n")  # the object changes under the same URI
    second = local_copy(uri, tmp_path)
    assert second != first and second.read_bytes() == b"a\n1\n2\n"


def test_a_missing_object_is_a_store_error(memory, tmp_path):
    with pytest.raises(StoreError, match="health-importer/nothing"):
        local_copy("memory://health-importer/nothing.csv", tmp_path)
