"""The platform spec (kfp-kubernetes' settings by executor), as kfp 2.17.3 writes it.

While a pipeline is built, its spec dict carries the platform spec under `PLATFORM_KEY`;
`compile_documents` takes it out again: it is the YAML file's second document.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import CompileError

PLATFORM_KEY = "_pinnacePlatformSpec"
_PREFIX = "pipelinechannel--"


def add_platform_config(
    build: Any, task: Any, component: dict, parent_inputs: dict, dag: list[str]
) -> None:
    """Record the task's platform settings under its executor label."""
    config = getattr(task, "platform_config", None)
    if not config:
        return
    if "executorLabel" not in component:
        raise CompileError(
            "Platform-specific features can only be set on primitive components. "
            "Found platform-specific feature set on a pipeline.",
            task=task.name,
            hint="set them on the tasks inside the pipeline",
        )
    label = component["executorLabel"]
    for platform, settings in config.items():
        rewritten = _rewrite(copy.deepcopy(settings), parent_inputs.get("parameters", {}), dag)
        build.platform.setdefault(platform, {}).setdefault(label, {}).update(rewritten)


def _rewrite(data: Any, inputs: dict, dag: list[str]) -> Any:
    """References to pipeline inputs and outer tasks become the inputs of the enclosing DAG
    (`pipelinechannel--...`) inside loops and conditions, as kfp rewrites them."""
    if isinstance(data, list):
        return [_rewrite(item, inputs, dag) for item in data]
    if not isinstance(data, dict):
        return data
    data = {key: _rewrite(value, inputs, dag) for key, value in data.items()}
    name = data.get("componentInputParameter")
    if name is not None and name not in inputs and _PREFIX + name in inputs:
        data["componentInputParameter"] = _PREFIX + name
    output = data.get("taskOutputParameter")
    if isinstance(output, dict) and output.get("producerTask") not in dag:
        surfaced = f"{_PREFIX}{output.get('producerTask')}-{output.get('outputParameterKey')}"
        if surfaced not in inputs:
            raise CompileError(
                "failed to rewrite a cross-DAG platform config reference for task output "
                f"{output.get('producerTask')}.{output.get('outputParameterKey')}",
                hint=f"expected the surfaced input {surfaced!r} in the enclosing DAG",
            )
        del data["taskOutputParameter"]
        data["componentInputParameter"] = surfaced
    return data


def platform_spec(
    executors: dict[str, dict[str, Any]], pipeline_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The platform spec: executors' settings and the pipeline's `pipelineConfig`."""
    platforms: dict[str, Any] = {
        platform: {"deploymentSpec": {"executors": by_label}}
        for platform, by_label in executors.items()
    }
    if pipeline_config:
        platforms.setdefault("kubernetes", {})["pipelineConfig"] = pipeline_config
    return {"platforms": platforms}


def check_workspace(spec: dict[str, Any], platform: dict[str, Any] | None) -> None:
    """An importer that downloads into the workspace needs a workspace (kfp's rule)."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    downloads = any(e.get("importer", {}).get("downloadToWorkspace") for e in executors.values())
    config = ((platform or {}).get("platforms", {}).get("kubernetes") or {}).get("pipelineConfig")
    if downloads and not (config or {}).get("workspace"):
        raise CompileError(
            "dsl.importer(download_to_workspace=True) requires PipelineConfig(workspace=...) "
            "on the pipeline",
            pipeline=spec.get("pipelineInfo", {}).get("name"),
            hint="add pipeline_config=dsl.PipelineConfig(workspace=dsl.WorkspaceConfig("
            "size='1Gi')) to @dsl.pipeline",
        )


def merge_platform(build: Any, sub: dict[str, Any], renamed: dict[str, str]) -> None:
    """Take a sub-pipeline's platform settings in, under its executors' new labels."""
    for platform, body in (sub.pop(PLATFORM_KEY, None) or {}).get("platforms", {}).items():
        for label, config in body.get("deploymentSpec", {}).get("executors", {}).items():
            target = build.platform.setdefault(platform, {})
            target.setdefault(renamed.get(label, label), {}).update(config)
