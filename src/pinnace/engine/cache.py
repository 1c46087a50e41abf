"""Task cache keys, with KFP's semantics.

A task reuses an earlier successful execution of the same pipeline (by name) when the
component's container (image, command, args), its declared outputs and its inputs
(parameter values and the identity of input artifacts) all match. Input artifacts are
identified by URI, so a downstream task hits the cache only when its upstream outputs were
themselves reused, as in KFP.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .inputs import BoundInputs
from .plan import PlannedTask

_CACHE_KEY_VERSION = "pinnace-cache-1"


def cache_key(
    task: PlannedTask,
    inputs: BoundInputs,
    pipeline_name: str = "",
    namespace: str | None = None,
) -> str:
    """The fingerprint of a task's execution, scoped to its pipeline as KFP scopes it, and
    to the run's namespace: one user's cached outputs are never served to another, and no
    user can plant outputs for another's runs. (Runs without a namespace, from the CLI,
    keep the keys they always had.)

    A user-given `cachingOptions.cacheKey` replaces the inputs and container, as in KFP.
    """
    custom = task.spec.get("cachingOptions", {}).get("cacheKey")
    if custom:
        parts: tuple[str, ...] = (_CACHE_KEY_VERSION, pipeline_name, task.component_name, custom)
        if namespace is not None:
            parts = (*parts, "namespace", namespace)
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    container = task.executor.get("container", {})
    outputs = task.component.get("outputDefinitions", {})
    document: dict[str, Any] = {
        "version": _CACHE_KEY_VERSION,
        "pipeline": pipeline_name,
        "container": {
            "image": container.get("image", ""),
            "command": container.get("command", []),
            "args": container.get("args", []),
        },
        "inputParameterValues": inputs.parameters,
        "inputArtifacts": {
            name: [a["uri"] for a in artifacts] for name, artifacts in inputs.artifacts.items()
        },
        "outputParametersSpec": outputs.get("parameters", {}),
        "outputArtifactsSpec": outputs.get("artifacts", {}),
    }
    if namespace is not None:
        document["namespace"] = namespace
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
