"""The pinnace.stores package: lazy imports, exports and the open_* functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pinnace.stores as stores
from pinnace.stores import open_artifact_store, open_metadata_store


def test_importing_stores_loads_no_heavy_library() -> None:
    code = (
        "import sys, pinnace.stores, pinnace.stores.memory\n"
        "heavy = {'sqlalchemy', 'fsspec', 'alembic'}\n"
        "print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_exports_are_sorted_and_resolve() -> None:
    assert stores.__all__ == sorted(stores.__all__)
    for name in stores.__all__:
        assert getattr(stores, name) is not None


def test_open_metadata_store_picks_the_implementation(tmp_path: Path) -> None:
    memory = open_metadata_store("memory://")
    assert type(memory).__name__ == "InMemoryMetadataStore"
    assert open_metadata_store("memory://") is not memory  # a fresh store each time
    sql = open_metadata_store(f"sqlite:///{tmp_path / 'p.db'}")
    assert isinstance(sql, stores.SqlMetadataStore)
    sql.close()


def test_open_artifact_store(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path))
    assert isinstance(store, stores.FsspecArtifactStore)
    assert store.root == str(tmp_path.resolve())
