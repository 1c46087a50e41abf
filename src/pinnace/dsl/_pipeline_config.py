"""`dsl.PipelineConfig`: pipeline-level settings, such as a workspace shared by the tasks.

Compiled, as kfp 2.17.3 does, into the platform spec's `pipelineConfig` (a Kubernetes
cluster makes a PersistentVolumeClaim for the workspace). Locally each run gets a workspace
folder, which `dsl.WORKSPACE_PATH_PLACEHOLDER` names.
"""

from __future__ import annotations

import re
from typing import Any

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_INT32_MAX = 2147483647


class KubernetesWorkspaceConfig:
    """Changes to the workspace's PersistentVolumeClaim on Kubernetes (`storageClassName`,
    `accessModes`, ...)."""

    def __init__(self, pvcSpecPatch: dict[str, Any] | None = None) -> None:
        self.pvcSpecPatch = pvcSpecPatch or {}

    def set_pvcSpecPatch(self, patch: dict[str, Any]) -> None:
        self.pvcSpecPatch = patch


class WorkspaceConfig:
    """A folder shared by every task of a run, of `size` (a Kubernetes quantity: "10Gi")."""

    def __init__(self, size: str, kubernetes: KubernetesWorkspaceConfig | None = None) -> None:
        self.size = size
        self.kubernetes = kubernetes or KubernetesWorkspaceConfig()

    @property
    def size(self) -> str:
        return self._size

    @size.setter
    def size(self, size: str) -> None:
        text = str(size or "").strip()
        if not text:
            raise ValueError("Workspace size is required and cannot be empty")
        if not _QUANTITY.match(text):
            raise ValueError(
                f'Workspace size "{size}" is invalid. Must be a valid Kubernetes resource '
                'quantity (e.g., "10Gi", "500Mi", "1Ti")'
            )
        self._size = text

    def set_size(self, size: str) -> None:
        self.size = size

    def set_kubernetes_config(self, kubernetes_config: KubernetesWorkspaceConfig) -> None:
        self.kubernetes = kubernetes_config

    def get_workspace(self) -> dict[str, Any]:
        workspace: dict[str, Any] = {"size": self.size}
        if self.kubernetes:
            workspace["kubernetes"] = {"pvcSpecPatch": self.kubernetes.pvcSpecPatch}
        return workspace


class PipelineConfig:
    """Pipeline-level settings: a workspace, and on Kubernetes how long the run's resources
    are kept after it ends (`ttl_seconds_after_*`) and its deadline."""

    def __init__(
        self,
        workspace: WorkspaceConfig | None = None,
        ttl_seconds_after_finished: int | None = None,
        ttl_seconds_after_success: int | None = None,
        ttl_seconds_after_failure: int | None = None,
        active_deadline_seconds: int | None = None,
    ) -> None:
        self.workspace = workspace
        limits = {
            "ttl_seconds_after_finished": ttl_seconds_after_finished,
            "ttl_seconds_after_success": ttl_seconds_after_success,
            "ttl_seconds_after_failure": ttl_seconds_after_failure,
            "active_deadline_seconds": active_deadline_seconds,
        }
        for name, value in limits.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int. Got: {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name} must be a non-negative integer. Got: {value}")
            if value > _INT32_MAX:
                raise ValueError(
                    f"{name} must not exceed the int32 maximum ({_INT32_MAX}). Got: {value}"
                )
        self.ttl_seconds_after_finished = ttl_seconds_after_finished
        self.ttl_seconds_after_success = ttl_seconds_after_success
        self.ttl_seconds_after_failure = ttl_seconds_after_failure
        self.active_deadline_seconds = active_deadline_seconds

    def platform_config(self) -> dict[str, Any]:
        """The platform spec's `pipelineConfig` (kfp's field names; zero values left out)."""
        config: dict[str, Any] = {}
        if self.workspace is not None:
            config["workspace"] = self.workspace.get_workspace()
        fields = (
            ("resourceTtlOnCompletion", self.ttl_seconds_after_finished),
            ("resourceTtlOnSuccess", self.ttl_seconds_after_success),
            ("resourceTtlOnFailure", self.ttl_seconds_after_failure),
            ("activeDeadlineSeconds", self.active_deadline_seconds),
        )
        config.update({key: value for key, value in fields if value})
        return config
