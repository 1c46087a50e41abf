"""The pipeline authoring SDK, with the names of `kfp.dsl` (kfp 2.x).

from pinnace import dsl

@dsl.component
def add(a: int, b: int) -> int:
    return a + b

@dsl.pipeline
def my_pipeline(a: int = 1):
    add(a=a, b=2)
"""

from __future__ import annotations

from ..runtime.types import (
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
    PipelineTaskFinalStatus,
    SlicedClassificationMetrics,
)
from ._channel import PipelineArtifactChannel, PipelineChannel, PipelineParameterChannel
from ._component import BaseComponent, PythonComponent
from ._decorators import Pipeline, component, pipeline
from ._placeholders import EXECUTOR_INPUT as PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER
from ._task import PipelineTask

__all__ = [
    "HTML",
    "PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER",
    "Artifact",
    "BaseComponent",
    "ClassificationMetrics",
    "Dataset",
    "Input",
    "InputPath",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "OutputPath",
    "Pipeline",
    "PipelineArtifactChannel",
    "PipelineChannel",
    "PipelineParameterChannel",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "PythonComponent",
    "SlicedClassificationMetrics",
    "component",
    "pipeline",
]
