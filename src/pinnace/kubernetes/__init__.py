"""kfp-kubernetes' functions (`from kfp import kubernetes` under the alias), written for Pinnace.

Each function records a Kubernetes setting on a task, as kfp-kubernetes 2.17.3 does: the
task's `platform_config["kubernetes"]` holds the JSON of a `KubernetesExecutorConfig`, which
the compiler writes to the platform spec (the second YAML document), so the spec is the one
kfp-kubernetes makes and runs on a Kubeflow cluster.

On Pinnace's local engine: secrets come from the local secret store (`pinnace secrets set`),
config maps from the local config-map store, field paths from the run; node selectors,
tolerations, affinities, pod metadata, image pull settings and timeouts are cluster
scheduling settings, recorded and ignored (the task log says so).

    from pinnace import dsl, kubernetes

    task = train()
    kubernetes.use_secret_as_env(task, "db", {"password": "DB_PASSWORD"})
"""

from __future__ import annotations

from ._pod import (
    add_node_affinity,
    add_node_affinity_json,
    add_node_selector,
    add_node_selector_json,
    add_pod_annotation,
    add_pod_label,
    add_toleration,
    add_toleration_json,
    set_image_pull_policy,
    set_image_pull_secrets,
    set_security_context,
    set_timeout,
    use_field_path_as_env,
)
from ._volumes import (
    CreatePVC,
    DeletePVC,
    add_ephemeral_volume,
    empty_dir_mount,
    mount_pvc,
    use_config_map_as_env,
    use_config_map_as_volume,
    use_secret_as_env,
    use_secret_as_volume,
)

__version__ = "2.17.3"

__all__ = [
    "CreatePVC",
    "DeletePVC",
    "add_ephemeral_volume",
    "add_node_affinity",
    "add_node_affinity_json",
    "add_node_selector",
    "add_node_selector_json",
    "add_pod_annotation",
    "add_pod_label",
    "add_toleration",
    "add_toleration_json",
    "empty_dir_mount",
    "mount_pvc",
    "set_image_pull_policy",
    "set_image_pull_secrets",
    "set_security_context",
    "set_timeout",
    "use_config_map_as_env",
    "use_config_map_as_volume",
    "use_field_path_as_env",
    "use_secret_as_env",
    "use_secret_as_volume",
]
