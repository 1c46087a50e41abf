"""kfp's `kfp.dsl.types` names (`artifact_types`, `type_annotations`) in one module.

from pinnace.dsl.types import Dataset          # kfp: from kfp.dsl.types.artifact_types import ...
"""

from __future__ import annotations

from ...runtime.types import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    InputPath,
    Markdown,
    Metrics,
    Model,
    Output,
    OutputPath,
    SlicedClassificationMetrics,
)

__all__ = [
    "HTML",
    "Artifact",
    "ClassificationMetrics",
    "Dataset",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputPath",
    "SlicedClassificationMetrics",
]
