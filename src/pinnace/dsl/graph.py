"""The pipeline graph the DSL builds, as the compiler and the component loaders read it.

The one door from `pinnace.compiler` and `pinnace.components` into the DSL's private
modules (tests/test_layers.py holds them to it): a name they need is re-exported here.
"""

from __future__ import annotations

from . import _placeholders as placeholders
from ._channel import (
    PipelineArtifactChannel,
    PipelineChannel,
    PipelineParameterChannel,
    channels_in,
    create_channel,
    replace_in,
)
from ._component import BaseComponent, PythonComponent
from ._container_component import ContainerComponent
from ._context import PipelineContext, TasksGroup
from ._control_flow import ConditionBranches, ExitHandler, ParallelFor
from ._control_flow import _ConditionBase as ConditionBase
from ._decorators import Pipeline
from ._interface import SINGLE_OUTPUT_NAME
from ._loops import (
    LOOP_CHANNELS,
    Collected,
    LoopArgumentVariable,
    LoopArtifactArgument,
    LoopParameterArgument,
)
from ._oneof import OneOfMixin
from ._placeholders import input_value
from ._structures import (
    IR_TO_SPEC_TYPE,
    ComponentSpec,
    ContainerSpec,
    InputSpec,
    OutputSpec,
    artifact_schema,
    ir_parameter_type,
    is_task_final_status,
    rename_for_k8s,
    sanitize_input_name,
    unique_name,
)
from ._task import PipelineTask
from ._task import _check_output_type as check_output_type

__all__ = [
    "IR_TO_SPEC_TYPE",
    "LOOP_CHANNELS",
    "SINGLE_OUTPUT_NAME",
    "BaseComponent",
    "Collected",
    "ComponentSpec",
    "ConditionBase",
    "ConditionBranches",
    "ContainerComponent",
    "ContainerSpec",
    "ExitHandler",
    "InputSpec",
    "LoopArgumentVariable",
    "LoopArtifactArgument",
    "LoopParameterArgument",
    "OneOfMixin",
    "OutputSpec",
    "ParallelFor",
    "Pipeline",
    "PipelineArtifactChannel",
    "PipelineChannel",
    "PipelineContext",
    "PipelineParameterChannel",
    "PipelineTask",
    "PythonComponent",
    "TasksGroup",
    "artifact_schema",
    "channels_in",
    "check_output_type",
    "create_channel",
    "input_value",
    "ir_parameter_type",
    "is_task_final_status",
    "placeholders",
    "rename_for_k8s",
    "replace_in",
    "sanitize_input_name",
    "unique_name",
]
