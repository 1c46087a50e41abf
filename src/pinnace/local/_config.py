"""`local.init(...)` and the runner choices, with kfp 2.17.3's signatures and checks."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any

# kfp 2.17.3's DockerRunner accepts the keyword arguments of docker's `containers.run`.
_DOCKER_RUN_ARGS = frozenset(
    (
        "auto_remove",
        "blkio_weight_device",
        "blkio_weight",
        "cap_add",
        "cap_drop",
        "cgroup_parent",
        "cgroupns",
        "cpu_count",
        "cpu_percent",
        "cpu_period",
        "cpu_quota",
        "cpu_rt_period",
        "cpu_rt_runtime",
        "cpu_shares",
        "cpuset_cpus",
        "cpuset_mems",
        "detach",
        "device_cgroup_rules",
        "device_read_bps",
        "device_read_iops",
        "device_write_bps",
        "device_write_iops",
        "devices",
        "device_requests",
        "dns",
        "dns_opt",
        "dns_search",
        "domainname",
        "entrypoint",
        "environment",
        "extra_hosts",
        "group_add",
        "healthcheck",
        "hostname",
        "init",
        "init_path",
        "ipc_mode",
        "isolation",
        "kernel_memory",
        "labels",
        "links",
        "log_config",
        "lxc_conf",
        "mac_address",
        "mem_limit",
        "mem_reservation",
        "mem_swappiness",
        "memswap_limit",
        "mounts",
        "name",
        "nano_cpus",
        "network",
        "network_disabled",
        "network_mode",
        "networking_config",
        "oom_kill_disable",
        "oom_score_adj",
        "pid_mode",
        "pids_limit",
        "platform",
        "ports",
        "privileged",
        "publish_all_ports",
        "read_only",
        "remove",
        "restart_policy",
        "runtime",
        "security_opt",
        "shm_size",
        "stdin_open",
        "stdout",
        "stderr",
        "stop_signal",
        "storage_opt",
        "stream",
        "sysctls",
        "tmpfs",
        "tty",
        "ulimits",
        "use_config_proxy",
        "user",
        "userns_mode",
        "uts_mode",
        "version",
        "volume_driver",
        "volumes",
        "working_dir",
        "image",
        "command",
        "",
    )
)


@dataclasses.dataclass
class SubprocessRunner:
    """Run each task in a process on this machine.

    `use_venv=True` (kfp's default) runs it in a Pinnace-managed virtual environment with
    its `packages_to_install`; False runs it with this interpreter and its packages.
    The pip options are accepted for kfp compatibility: Pinnace builds environments with uv,
    one at a time per environment, and reuses them.
    """

    use_venv: bool = True
    serialize_pip_installs: bool = True
    max_concurrent_pip_installs: int = 1


class DockerRunner:
    """Run container components in a container engine (docker or podman), as Pinnace does
    whenever one answers; Python components run in Pinnace-managed environments.

    Takes the keyword arguments of docker's `containers.run`, refused or accepted as kfp
    does; Pinnace does not pass them on (its container launch is fixed: sandboxed, inputs
    read-only, outputs mounted).
    """

    def __init__(self, max_concurrent_pip_installs: int = 1, **container_run_args: Any) -> None:
        unsupported = set(container_run_args) - _DOCKER_RUN_ARGS
        if unsupported:
            raise ValueError(
                "Unsupported `docker run` arguments, see Package `docker` for details: "
                + ", ".join(sorted(unsupported))
            )
        excess = {"image", "command", "volumes"} & set(container_run_args)
        if excess:
            raise ValueError(
                "The following docker run arguments should not be specififed: "
                + ", ".join(sorted(excess))
            )
        self.container_run_args = container_run_args
        self.max_concurrent_pip_installs = max_concurrent_pip_installs


@dataclasses.dataclass(frozen=True)
class LocalExecutionConfig:
    """The session `local.init` set up."""

    runner: SubprocessRunner | DockerRunner
    pipeline_root: str
    workspace_root: str
    raise_on_error: bool
    enable_caching: bool = False
    cache_root: str | None = None


def init(
    runner: SubprocessRunner | DockerRunner,
    pipeline_root: str = "./local_outputs",
    workspace_root: str | None = None,
    raise_on_error: bool = True,
    enable_caching: bool = False,
    cache_root: str | None = None,
) -> None:
    """Start a local session: from now on, components and pipelines called outside a
    pipeline run at once on Pinnace's engine (kfp 2.17.3's `kfp.local.init`).

    `pipeline_root` receives the artifacts; runs are recorded in Pinnace's home (they show
    in `pinnace runs` and the dashboard). `raise_on_error=False` logs a failed task and
    returns a task without outputs instead of raising. `enable_caching` reuses earlier
    outputs (Pinnace's cache, in its metadata store; `cache_root` is accepted and unused).
    """
    from ..dsl._local import set_local_runner
    from ._run import LocalSession

    if not isinstance(runner, (SubprocessRunner, DockerRunner)):
        raise ValueError(
            f"Got unknown runner {runner} of type {runner.__class__.__name__}. Runner should "
            "be one of the following types: SubprocessRunner. DockerRunner."
        )
    config = LocalExecutionConfig(
        runner=runner,
        pipeline_root=os.path.abspath(pipeline_root),
        workspace_root=workspace_root or tempfile.mkdtemp(prefix="kfp-workspace-"),
        raise_on_error=raise_on_error,
        enable_caching=enable_caching,
        cache_root=os.path.abspath(cache_root) if cache_root else None,
    )
    set_local_runner(LocalSession(config).run)
