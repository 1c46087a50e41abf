"""Importer tasks (`dsl.importer`): an existing URI becomes an artifact, without a process.

Imported URIs lie outside the artifact store (which refuses those by design), so the engine
reads them itself: local paths and file:// URIs are used where they are; other schemes are
fetched with fsspec into the work folder, once per URI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SpecError, StoreError
from ..stores.external import _filesystem, _local, is_external, local_copy
from .inputs import BoundInputs, TaskOutputs, resolve_input_references
from .plan import PlannedTask

__all__ = ["import_artifact", "is_external", "local_copy"]


def import_artifact(task: PlannedTask, inputs: BoundInputs, path: str) -> TaskOutputs:
    """The importer's output artifact; StoreError when the URI cannot be read here."""
    spec = task.executor.get("importer", {})
    source = spec.get("artifactUri", {})
    if "constant" in source:
        uri = source["constant"]
    else:
        name = source.get("runtimeParameter", "uri")
        uri = inputs.parameters.get(name)
    if not isinstance(uri, str) or not uri:
        raise SpecError(
            f"importer {path!r} has no artifact URI (got {uri!r})",
            field=f"{path}.importer.artifactUri",
        )
    _check_readable(uri)
    outputs = task.component.get("outputDefinitions", {}).get("artifacts") or {"artifact": {}}
    name = next(iter(outputs))
    metadata = resolve_input_references(spec.get("metadata") or {}, inputs.parameters)
    artifact: dict[str, Any] = {
        "name": name,
        "uri": uri,
        "type": dict(spec.get("typeSchema") or {}),
        "metadata": dict(metadata) if isinstance(metadata, dict) else {},
    }
    return TaskOutputs({}, {name: [artifact]})


def _check_readable(uri: str) -> None:
    local = _local(uri)
    if local is not None:
        if not Path(local).exists():
            raise StoreError(
                f"imported artifact {uri!r} does not exist",
                uri=uri,
                hint="check the importer's artifact_uri",
            )
        return
    _filesystem(uri)
