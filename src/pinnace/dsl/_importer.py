"""`dsl.importer`: a task that registers an existing file or folder as an artifact."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import CompileError
from ..runtime import types as io_types
from ._channel import PipelineParameterChannel, channels_in
from ._component import BaseComponent
from ._placeholders import input_value
from ._structures import ComponentSpec, InputSpec, OutputSpec, unique_name
from ._task import PipelineTask

URI_KEY = "uri"
OUTPUT_KEY = "artifact"
METADATA_KEY = "metadata"


@dataclasses.dataclass
class ImporterSpec:
    """What an importer imports: the artifact type, whether to reimport, metadata."""

    schema_title: str
    reimport: bool = False
    metadata: Any = None
    #: copy the artifact into the pipeline's workspace (needs dsl.PipelineConfig(workspace))
    download_to_workspace: bool = False


def _metadata_inputs(metadata: Any, inputs: dict, calls: dict) -> Any:
    """Channels inside the metadata become inputs `metadata`, `metadata-2`, ..."""
    if isinstance(metadata, PipelineParameterChannel):
        # the same channel (by pattern: an f-string's copy too) is one input, as in kfp
        name = next((n for n, c in calls.items() if c.pattern == metadata.pattern), None)
        if name is None:
            name = unique_name(METADATA_KEY, calls)
        calls[name] = metadata
        inputs[name] = InputSpec(type=metadata.channel_type)
        return input_value(name)
    if isinstance(metadata, dict):
        return {
            _metadata_inputs(k, inputs, calls): _metadata_inputs(v, inputs, calls)
            for k, v in metadata.items()
        }
    if isinstance(metadata, list):
        return [_metadata_inputs(item, inputs, calls) for item in metadata]
    if isinstance(metadata, str):
        for channel in channels_in(metadata):
            metadata = metadata.replace(channel.pattern, _metadata_inputs(channel, inputs, calls))
    return metadata


def importer(
    artifact_uri: Any,
    artifact_class: type,
    reimport: bool = False,
    metadata: Mapping[str, Any] | None = None,
    download_to_workspace: bool = False,
) -> PipelineTask:
    """Import an existing artifact (by URI) for downstream tasks.

    Example::

        data = dsl.importer(artifact_uri="gs://bucket/data.csv", artifact_class=dsl.Dataset)
        train(data=data.output)
    """
    if not io_types.is_artifact_class(artifact_class):
        raise CompileError(
            f"dsl.importer artifact_class must be an artifact class, got {artifact_class!r}",
            hint="pass dsl.Dataset, dsl.Model, dsl.Artifact, ...",
        )
    inputs: dict[str, InputSpec] = {}
    calls: dict[str, Any] = {}
    metadata_spec = _metadata_inputs(dict(metadata or {}), inputs, calls)
    # Duck-typed (ours, kfp's or a custom class): is_artifact_class checked both attributes.
    schema = io_types.bundled_artifact_type(
        artifact_class.schema_title,  # type: ignore[attr-defined]
        artifact_class.schema_version,  # type: ignore[attr-defined]
    )
    spec = ComponentSpec(
        name="importer",
        inputs={URI_KEY: InputSpec(type="String"), **inputs},
        outputs={OUTPUT_KEY: OutputSpec(type=schema)},
        importer=ImporterSpec(schema, reimport, metadata_spec, download_to_workspace),
    )
    return BaseComponent(spec)(uri=artifact_uri, **calls)
