"""Secrets, config maps, persistent volume claims, empty dirs and ephemeral volumes."""

# No `from __future__ import annotations`: the DSL reads CreatePVC's annotations as objects.

from typing import Any

from .. import dsl
from ..dsl import PipelineChannel, PipelineTask
from ._config import config_of, parameter_input

#: the argument of `use_secret_as_*` / `use_config_map_as_*` that names the source
_NAME_ARGUMENT = {"secret": "secret_name", "configMap": "config_map_name"}


def _attach(
    task: PipelineTask,
    source: str,
    use: str,
    name: str | PipelineChannel,
    entry: dict[str, Any],
    optional: bool,
) -> PipelineTask:
    """Add `entry` to the task's `{source}As{use}` list (source "secret" or "configMap"),
    with `optional` and the source's name: as a parameter, and as itself when constant."""
    entry["optional"] = bool(optional)
    entry[f"{source}NameParameter"] = parameter_input(name, task, _NAME_ARGUMENT[source])
    if isinstance(name, str):
        entry[f"{source}Name"] = name
    config_of(task).setdefault(f"{source}As{use}", []).append(entry)
    return task


def use_secret_as_env(
    task: PipelineTask,
    secret_name: str | PipelineChannel,
    secret_key_to_env: dict[str, str],
    optional: bool = False,
) -> PipelineTask:
    """Set environment variables from a Secret's keys: `{"password": "DB_PASSWORD"}`.

    Locally the Secret comes from `pinnace secrets set NAME KEY=VALUE`.
    """
    key_to_env = [{"secretKey": k, "envVar": v} for k, v in secret_key_to_env.items()]
    return _attach(task, "secret", "Env", secret_name, {"keyToEnv": key_to_env}, optional)


def use_secret_as_volume(
    task: PipelineTask,
    secret_name: str | PipelineChannel,
    mount_path: str,
    optional: bool = False,
) -> PipelineTask:
    """Mount a Secret's keys as files under `mount_path`."""
    return _attach(task, "secret", "Volume", secret_name, {"mountPath": mount_path}, optional)


def use_config_map_as_env(
    task: PipelineTask,
    config_map_name: str | PipelineChannel,
    config_map_key_to_env: dict[str, str],
    optional: bool = False,
) -> PipelineTask:
    """Set environment variables from a ConfigMap's keys."""
    key_to_env = [{"configMapKey": k, "envVar": v} for k, v in config_map_key_to_env.items()]
    return _attach(task, "configMap", "Env", config_map_name, {"keyToEnv": key_to_env}, optional)


def use_config_map_as_volume(
    task: PipelineTask,
    config_map_name: str | PipelineChannel,
    mount_path: str,
    optional: bool = False,
) -> PipelineTask:
    """Mount a ConfigMap's keys as files under `mount_path`."""
    entry = {"mountPath": mount_path}
    return _attach(task, "configMap", "Volume", config_map_name, entry, optional)


def mount_pvc(
    task: PipelineTask,
    pvc_name: str | PipelineChannel,
    mount_path: str,
    sub_path: str = "",
) -> PipelineTask:
    """Mount a PersistentVolumeClaim (made by `CreatePVC`, or existing) at `mount_path`."""
    entry: dict[str, Any] = {"mountPath": mount_path}
    if sub_path:
        entry["subPath"] = sub_path
    entry["pvcNameParameter"] = parameter_input(pvc_name, task, "pvc_name")
    # kfp-kubernetes also fills the deprecated reference fields
    if isinstance(pvc_name, str):
        entry["constant"] = pvc_name
    elif pvc_name.task_name is None:
        entry["componentInputParameter"] = pvc_name.name
    else:
        entry["taskOutputParameter"] = {
            "producerTask": pvc_name.task_name,
            "outputParameterKey": pvc_name.name,
        }
    config_of(task).setdefault("pvcMount", []).append(entry)
    return task


def empty_dir_mount(
    task: PipelineTask,
    volume_name: str,
    mount_path: str,
    medium: str | None = None,
    size_limit: str | None = None,
) -> PipelineTask:
    """Mount an empty directory (a scratch volume that lives as long as the task's pod)."""
    entry: dict[str, Any] = {"volumeName": volume_name, "mountPath": mount_path}
    if medium is not None:
        entry["medium"] = medium
    if size_limit is not None:
        entry["sizeLimit"] = size_limit
    config_of(task).setdefault("emptyDirMounts", []).append(entry)
    return task


def add_ephemeral_volume(
    task: PipelineTask,
    volume_name: str,
    mount_path: str,
    access_modes: list[str],
    size: str,
    storage_class_name: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> PipelineTask:
    """Add a generic ephemeral volume (a claim made and deleted with the task's pod)."""
    entry: dict[str, Any] = {
        "volumeName": volume_name,
        "mountPath": mount_path,
        "accessModes": list(access_modes),
        "size": size,
    }
    if storage_class_name is None:
        entry["defaultStorageClass"] = True
    elif storage_class_name:
        entry["storageClassName"] = storage_class_name
    metadata = {k: v for k, v in (("labels", labels), ("annotations", annotations)) if v}
    if metadata:
        entry["metadata"] = metadata
    config_of(task).setdefault("genericEphemeralVolume", []).append(entry)
    return task


@dsl.container_component
def CreatePVC(
    name: dsl.OutputPath(str),  # type: ignore[valid-type]
    access_modes: list[str],
    size: str,
    pvc_name: str | None = None,
    pvc_name_suffix: str | None = None,
    storage_class_name: str | None = "",
    volume_name: str | None = None,
    annotations: dict[str, str] | None = None,
    data_source: dict[str, str] | None = None,
):
    """Make a PersistentVolumeClaim for later tasks; its name is the `name` output.

    Kubeflow's backend creates the claim itself (the image is a stub it recognises);
    Pinnace makes a named local volume, kept until `DeletePVC`.
    """
    return dsl.ContainerSpec(image="argostub/createpvc")


@dsl.container_component
def DeletePVC(pvc_name: str):
    """Delete a PersistentVolumeClaim made by `CreatePVC`."""
    return dsl.ContainerSpec(image="argostub/deletepvc")
