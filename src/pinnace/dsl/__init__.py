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
    EmbeddedInput,
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
from ._container_component import ContainerSpec, container_component
from ._control_flow import Condition, Elif, Else, ExitHandler, If, ParallelFor
from ._decorators import Pipeline, component, pipeline
from ._importer import importer
from ._loops import Collected
from ._notebook import notebook_component, run_notebook
from ._oneof import OneOf
from ._pipeline_config import KubernetesWorkspaceConfig, PipelineConfig, WorkspaceConfig
from ._placeholders import EXECUTOR_INPUT as PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER
from ._placeholders import (
    PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER,
    PIPELINE_JOB_ID_PLACEHOLDER,
    PIPELINE_JOB_NAME_PLACEHOLDER,
    PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER,
    PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
    PIPELINE_ROOT_PLACEHOLDER,
    PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER,
    PIPELINE_TASK_ID_PLACEHOLDER,
    PIPELINE_TASK_NAME_PLACEHOLDER,
    WORKSPACE_PATH_PLACEHOLDER,
    ConcatPlaceholder,
    IfPresentPlaceholder,
)
from ._task import PipelineTask

__all__ = [
    "HTML",
    "PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER",
    "PIPELINE_JOB_ID_PLACEHOLDER",
    "PIPELINE_JOB_NAME_PLACEHOLDER",
    "PIPELINE_JOB_RESOURCE_NAME_PLACEHOLDER",
    "PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER",
    "PIPELINE_ROOT_PLACEHOLDER",
    "PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER",
    "PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER",
    "PIPELINE_TASK_ID_PLACEHOLDER",
    "PIPELINE_TASK_NAME_PLACEHOLDER",
    "WORKSPACE_PATH_PLACEHOLDER",
    "Artifact",
    "BaseComponent",
    "ClassificationMetrics",
    "Collected",
    "ConcatPlaceholder",
    "Condition",
    "ContainerSpec",
    "Dataset",
    "Elif",
    "Else",
    "EmbeddedInput",
    "ExitHandler",
    "If",
    "IfPresentPlaceholder",
    "Input",
    "InputPath",
    "KubernetesWorkspaceConfig",
    "Markdown",
    "Metrics",
    "Model",
    "OneOf",
    "Output",
    "OutputPath",
    "ParallelFor",
    "Pipeline",
    "PipelineArtifactChannel",
    "PipelineChannel",
    "PipelineConfig",
    "PipelineParameterChannel",
    "PipelineTask",
    "PipelineTaskFinalStatus",
    "PythonComponent",
    "SlicedClassificationMetrics",
    "WorkspaceConfig",
    "component",
    "container_component",
    "importer",
    "notebook_component",
    "pipeline",
    "run_notebook",
]
