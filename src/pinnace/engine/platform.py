"""What a task's Kubernetes settings (kfp-kubernetes, the platform spec) mean on this machine.

Secrets and config maps used as environment variables come from the local stores
(`pinnace secrets set`, `pinnace configmaps set`); field paths (`metadata.name`, pod labels and
annotations, ...) get the values the task's pod would have. Settings that only place or shape a
pod on a cluster (affinities, tolerations, image pull settings, timeouts, security contexts)
and volumes, which need a container to be mounted into, are ignored with a note in the task's
log, as kfp's local runner ignores Kubernetes-only settings. Node selectors travel with the
launch: the Ray executor places the task on a node that advertises them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError
from ..stores.secrets import LocalSecretStore

#: where a run's spec dict carries its platform spec (the YAML's second document)
PLATFORM_SPEC_KEY = "platformSpec"

_IGNORED = {
    "nodeSelector": "node selector (the ray executor places by it)",
    "nodeAffinity": "node affinity",
    "podAffinity": "pod affinity",
    "tolerations": "tolerations",
    "imagePullPolicy": "image pull policy",
    "imagePullSecret": "image pull secrets",
    "activeDeadlineSeconds": "timeout",
    "securityContext": "security context",
    "pvcMount": "PVC mounts",
    "secretAsVolume": "secrets as volumes",
    "configMapAsVolume": "config maps as volumes",
    "emptyDirMounts": "empty dirs",
    "genericEphemeralVolume": "ephemeral volumes",
    "enabledSharedMemory": "shared memory",
}

#: resolves a k8s parameter reference (componentInputParameter, ...) of the task's scope
Resolver = Callable[[Mapping[str, Any]], Any]


@dataclass
class LocalPodSettings:
    """The environment a task gets from its Kubernetes settings, and what was ignored."""

    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def kubernetes_config(spec: Mapping[str, Any], executor_label: str) -> dict[str, Any]:
    """The task's KubernetesExecutorConfig (as JSON) from a run spec's platform spec."""
    platforms = (spec.get(PLATFORM_SPEC_KEY) or {}).get("platforms", {})
    executors = platforms.get("kubernetes", {}).get("deploymentSpec", {}).get("executors", {})
    return dict(executors.get(executor_label) or {})


def node_selector(config: Mapping[str, Any], resolve: Resolver) -> dict[str, str]:
    """The node labels of `config` (`add_node_selector`, `add_node_selector_json`)."""
    selector = config.get("nodeSelector") or {}
    labels = {str(k): str(v) for k, v in (selector.get("labels") or {}).items()}
    reference = selector.get("nodeSelectorJson")
    if reference:
        value = resolve(reference)
        if isinstance(value, Mapping):
            labels.update({str(k): str(v) for k, v in value.items()})
    return labels


def local_pod_settings(
    config: Mapping[str, Any],
    *,
    home: Path,
    resolve: Resolver,
    pod_name: str,
    namespace: str | None,
) -> LocalPodSettings:
    """The environment variables of `config` on this machine; NotFoundError for a missing
    secret or config map that is not optional."""
    settings = LocalPodSettings()
    secrets = LocalSecretStore(home / "secrets", "secret")
    config_maps = LocalSecretStore(home / "configmaps", "config map")
    for entry in config.get("secretAsEnv", []):
        _from_store(settings, entry, secrets, "secret", resolve)
    for entry in config.get("configMapAsEnv", []):
        _from_store(settings, entry, config_maps, "configMap", resolve)
    metadata = config.get("podMetadata", {})
    for entry in config.get("fieldPathAsEnv", []):
        settings.env[entry["name"]] = _field(entry["fieldPath"], metadata, pod_name, namespace)
    ignored = [label for key, label in _IGNORED.items() if config.get(key)]
    if ignored:
        settings.notes.append(
            "pinnace: ignoring Kubernetes settings this machine has no use for: "
            + ", ".join(ignored)
        )
    return settings


def _from_store(
    settings: LocalPodSettings,
    entry: Mapping[str, Any],
    store: LocalSecretStore,
    prefix: str,
    resolve: Resolver,
) -> None:
    reference = entry.get(f"{prefix}NameParameter")
    name = resolve(reference) if reference else entry.get(f"{prefix}Name")
    if name in (None, ""):
        return  # an optional pipeline input left unset: Kubeflow's driver skips the setting
    try:
        values = store.get(str(name))
    except NotFoundError:
        if entry.get("optional"):
            return
        raise
    for pair in entry.get("keyToEnv", []):
        key = pair.get("secretKey") or pair.get("configMapKey")
        if key in values:
            settings.env[pair["envVar"]] = values[key]
        elif not entry.get("optional"):
            raise NotFoundError(
                f"{store.kind} {name!r} has no key {key!r}",
                hint=f"add it with `pinnace {store.root.name} set {name} {key}=...`",
            )


def _field(path: str, metadata: Mapping[str, Any], pod: str, namespace: str | None) -> str:
    """A pod field as the downward API gives it (absent labels/annotations: empty)."""
    for kind in ("annotations", "labels"):
        prefix = f"metadata.{kind}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str(metadata.get(kind, {}).get(path[len(prefix) : -2], ""))
    values = {
        "metadata.name": pod,
        "metadata.namespace": namespace or "default",
        "spec.nodeName": socket.gethostname(),
        "spec.serviceAccountName": "default",
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    return values.get(path, "")
