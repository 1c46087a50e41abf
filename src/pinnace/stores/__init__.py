"""Persistence: the metadata store (SQL or in memory) and the artifact store (fsspec).

Importing this package loads neither SQLAlchemy nor fsspec; they load when a store opens.

Example:
    >>> from pinnace.stores import open_metadata_store
    >>> store = open_metadata_store("memory://")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from .base import (
    ApiTokenRecord,
    ArtifactRecord,
    ArtifactStore,
    CacheEntry,
    ExecutionRecord,
    ExperimentRecord,
    ListQuery,
    MetadataStore,
    Page,
    PipelineRecord,
    PipelineVersionRecord,
    Predicate,
    RecurringRunRecord,
    RunRecord,
    TaskRecord,
    UserRecord,
)

if TYPE_CHECKING:
    from .._files import OutputLimits
    from .artifacts import FsspecArtifactStore
    from .memory import InMemoryMetadataStore
    from .sql import SqlMetadataStore

_LAZY = {
    "FsspecArtifactStore": ".artifacts",
    "InMemoryMetadataStore": ".memory",
    "SqlMetadataStore": ".sql",
}


def not_found(record_class: type, key: str) -> NotFoundError:
    """The NotFoundError the stores raise for `key` of `record_class`, in the same words."""
    from ._catalog import kind_of

    return kind_of(record_class).not_found(key)


def open_metadata_store(url: str) -> MetadataStore:
    """The metadata store at `url`: `memory://` for a fresh in-memory store, else a SQL URL.

    A SQL database is created and upgraded to the current schema as needed.
    """
    if url.startswith("memory:"):
        from .memory import InMemoryMetadataStore

        return InMemoryMetadataStore()
    from .sql import SqlMetadataStore

    return SqlMetadataStore(url)


def open_artifact_store(root: str, limits: OutputLimits | None = None) -> ArtifactStore:
    """The artifact store under `root`: a local folder or an fsspec URL (`s3://b/prefix`);
    `limits` bound one output (default: pinnace._files.DEFAULT_LIMITS)."""
    from .._files import DEFAULT_LIMITS
    from .artifacts import FsspecArtifactStore

    return FsspecArtifactStore(root, output_limits=limits or DEFAULT_LIMITS)


def __getattr__(name: str) -> Any:
    # Store classes load on first use so `import pinnace.stores` stays light.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApiTokenRecord",
    "ArtifactRecord",
    "ArtifactStore",
    "CacheEntry",
    "ExecutionRecord",
    "ExperimentRecord",
    "FsspecArtifactStore",
    "InMemoryMetadataStore",
    "ListQuery",
    "MetadataStore",
    "Page",
    "PipelineRecord",
    "PipelineVersionRecord",
    "Predicate",
    "RecurringRunRecord",
    "RunRecord",
    "SqlMetadataStore",
    "TaskRecord",
    "UserRecord",
    "not_found",
    "open_artifact_store",
    "open_metadata_store",
]
