"""What a task's Kubernetes settings (kfp-kubernetes, the platform spec) mean on this machine.

Secrets and config maps used as environment variables come from the local stores
(`pinnace secrets set`, `pinnace configmaps set`); field paths (`metadata.name`, pod labels and
annotations, ...) get the values the task's pod would have. Settings that only place or shape a
pod on a cluster (affinities, tolerations, image pull settings, timeouts, security contexts,
ephemeral volumes) are ignored with a note in the task's log, as kfp's local runner ignores
Kubernetes-only settings. Volumes become folders bound at their mount paths (`Mount`): a PVC is
`<home>/volumes/<namespace>/<name>` (kept until deleted), an empty dir a folder of the
execution (a pod's), a secret or config map a folder of the execution with a file per key;
the local executor binds them with bubblewrap. Node selectors travel with the launch: the Ray
executor places the task on a node that advertises them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, UserInputError
from ..executors.base import Mount
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
    mounts: list[Mount] = field(default_factory=list)


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
    scratch: Path | None = None,
) -> LocalPodSettings:
    """The environment variables and volumes of `config` on this machine (`scratch`: the
    execution's folder for its empty dirs, secrets and config maps as files); NotFoundError
    for a missing secret or config map that is not optional."""
    settings = LocalPodSettings()
    secrets = LocalSecretStore(home / "secrets", "secret")
    config_maps = LocalSecretStore(home / "configmaps", "config map")
    for entry in config.get("secretAsEnv", []):
        _from_store(settings, entry, secrets, "secret", resolve)
    for entry in config.get("configMapAsEnv", []):
        _from_store(settings, entry, config_maps, "configMap", resolve)
    if scratch is not None:
        try:
            settings.mounts = _volumes(
                config, home, resolve, namespace, scratch, secrets, config_maps
            )
        except BaseException:  # no secret file stays behind a task that does not start
            shutil.rmtree(scratch, ignore_errors=True)
            raise
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


#: a PVC name as Kubernetes allows it (a DNS subdomain): safe as one folder name
_PVC_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

#: a secret or config map key as Kubernetes allows it: one file name
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def pvc_folder(home: Path, namespace: str | None, name: str) -> Path:
    """The folder of PVC `name` of `namespace` on this machine."""
    if not _PVC_NAME.match(name):
        raise UserInputError(f"{name!r} is not a valid PVC name (lowercase DNS subdomain)")
    return home / "volumes" / (namespace or "local") / name


#: the stub images of kfp-kubernetes' CreatePVC / DeletePVC (Kubeflow's driver acts for them)
PVC_STUBS = ("argostub/createpvc", "argostub/deletepvc")


def pvc_stub(
    image: str, parameters: Mapping[str, Any], home: Path, namespace: str | None, task_id: str
) -> dict[str, Any]:
    """What CreatePVC / DeletePVC (`image`) do here, as Kubeflow's driver does on a cluster:
    make the named volume (its name, `pvc_name` or a name of the task ending with
    `pvc_name_suffix`, is the output `name`), or delete it. Returns the output parameters."""
    if image == PVC_STUBS[1]:
        folder = pvc_folder(home, namespace, str(parameters.get("pvc_name") or ""))
        if not folder.is_dir():
            raise NotFoundError(f"no PVC {folder.name!r} on this machine")
        shutil.rmtree(folder)
        return {}
    name, suffix = parameters.get("pvc_name"), parameters.get("pvc_name_suffix")
    if bool(name) == bool(suffix):
        raise UserInputError("CreatePVC needs exactly one of pvc_name and pvc_name_suffix")
    name = name or f"{uuid.uuid5(uuid.NAMESPACE_URL, task_id)}{suffix}"
    pvc_folder(home, namespace, str(name)).mkdir(parents=True, exist_ok=True)
    return {"name": str(name)}


def _volumes(
    config: Mapping[str, Any],
    home: Path,
    resolve: Resolver,
    namespace: str | None,
    scratch: Path,
    secrets: LocalSecretStore,
    config_maps: LocalSecretStore,
) -> list[Mount]:
    mounts = []
    for entry in config.get("pvcMount", []):
        reference = entry.get("pvcNameParameter")
        name = resolve(reference) if reference else entry.get("constant")
        if name in (None, ""):
            raise UserInputError(f"the PVC mounted at {entry['mountPath']!r} has no name")
        folder = pvc_folder(home, namespace, str(name))
        if entry.get("subPath"):
            folder = folder / entry["subPath"]
            if ".." in Path(entry["subPath"]).parts:
                raise UserInputError(f"sub path {entry['subPath']!r} leaves the PVC")
        folder.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(str(folder), entry["mountPath"]))
    for entry in config.get("emptyDirMounts", []):
        folder = scratch / "empty" / entry["volumeName"]
        folder.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(str(folder), entry["mountPath"], temporary=True))
    for prefix, store in (("secret", secrets), ("configMap", config_maps)):
        for index, entry in enumerate(config.get(f"{prefix}AsVolume", [])):
            reference = entry.get(f"{prefix}NameParameter")
            name = resolve(reference) if reference else entry.get(f"{prefix}Name")
            try:
                values = store.get(str(name)) if name not in (None, "") else {}
            except NotFoundError:
                if not entry.get("optional"):
                    raise
                values = {}
            folder = scratch / f"{prefix}-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            mode = 0o600 if prefix == "secret" else 0o644
            for key, value in values.items():
                if not _KEY.match(key) or key in (".", ".."):
                    raise UserInputError(f"{store.kind} {name!r}: key {key!r} is no file name")
                path = folder / key
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
                with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                    handle.write(value)
                os.chmod(path, mode)
            mounts.append(Mount(str(folder), entry["mountPath"], read_only=True, temporary=True))
    return mounts


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
