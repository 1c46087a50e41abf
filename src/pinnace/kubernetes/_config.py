"""Reading and writing a task's Kubernetes settings (the JSON of a KubernetesExecutorConfig)."""

from __future__ import annotations

from typing import Any

from ..dsl import PipelineArtifactChannel, PipelineChannel, PipelineTask
from ..errors import CompileError


def config_of(task: PipelineTask) -> dict[str, Any]:
    """The task's Kubernetes settings, created empty on first use."""
    if not isinstance(task, PipelineTask):
        raise CompileError(
            f"Kubernetes settings apply to a task of a pipeline, not to {type(task).__name__}",
            hint="call the kubernetes functions on the task a component call returned",
        )
    return task.platform_config.setdefault("kubernetes", {})


def parameter_input(value: Any, task: PipelineTask, argument: str = "input_param") -> dict:
    """A constant or a pipeline channel as an InputParameterSpec (kfp-kubernetes' rules)."""
    if isinstance(value, (str, dict)):
        return {"runtimeValue": {"constant": value}}
    if isinstance(value, PipelineChannel) and not isinstance(value, PipelineArtifactChannel):
        task.register_pipeline_channels([value])
        if value.task_name is None:
            return {"componentInputParameter": value.full_name}
        if value.task is not None:
            task.after(value.task)
        return {
            "taskOutputParameter": {
                "producerTask": value.task_name,
                "outputParameterKey": value.name,
            }
        }
    raise ValueError(
        f"Argument for {argument!r} must be an instance of str, dict, or PipelineChannel. "
        f"Got unknown input type: {type(value)!r}."
    )


def optional_bool(entry: dict[str, Any], key: str, value: bool) -> None:
    """Fields kfp-kubernetes' protos declare `optional` are written even when false."""
    entry[key] = bool(value)
