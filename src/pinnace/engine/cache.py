"""Task cache keys, with KFP's semantics.

A task reuses an earlier successful execution when the component's container (image,
command, args), its declared outputs and its inputs (parameter values and the identity of
input artifacts) all match. Input artifacts are identified by URI, so a downstream task
hits the cache only when its upstream outputs were themselves reused, as in KFP.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .inputs import BoundInputs
from .plan import PlannedTask

_CACHE_KEY_VERSION = "pinnace-cache-1"


def cache_key(task: PlannedTask, inputs: BoundInputs) -> str:
    container = task.executor.get("container", {})
    outputs = task.component.get("outputDefinitions", {})
    document: dict[str, Any] = {
        "version": _CACHE_KEY_VERSION,
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
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
