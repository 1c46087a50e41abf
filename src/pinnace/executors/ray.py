"""RayExecutor: each task attempt is one Ray task on a Ray cluster (`pip install 'pinnace[ray]'`).

Ray is imported here only. An attempt becomes a Ray task with `max_retries=0` (Pinnace's own
retry policy stays in charge) and the task's resources: CPU and memory, accelerators as
`num_gpus` (NVIDIA types) or a custom resource named after the accelerator type, node
selectors (kfp-kubernetes `add_node_selector(task, key, value)`, or
`PINNACE_NODE_SELECTOR_<KEY>=<value>` in the task's environment) as custom resources
`<key>=<value>` that nodes advertise.
On the node the attempt is staged and run by `_ray_node.node_attempt`; its log streams back
into the task's log here. A request no node of the cluster could ever satisfy is refused at
submission (Ray itself would wait forever), and a node that dies fails the attempt with a
reason saying so.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from ..errors import ExecutorError
from ._ray_node import Finished, LogChunk, NodeConfig, Started, node_attempt
from .base import ExecutionOutcome, Resources, TaskLaunch, remove_temporary

ProcessListener = Callable[[str, dict[str, Any]], None]

#: environment variables of a task that place it: PINNACE_NODE_SELECTOR_<KEY>=<value>
NODE_SELECTOR_PREFIX = "PINNACE_NODE_SELECTOR_"
#: seconds the cluster's CPU count is reused before Ray is asked again
_CAPACITY_TTL_S = 5.0
_NVIDIA = ("nvidia", "gpu", "tesla", "a100", "h100", "l4", "t4", "v100")


def ray_options(
    resources: Resources, env: Mapping[str, str], node_selector: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Ray task options for a task's resources and node selectors."""
    options: dict[str, Any] = {"num_cpus": resources.cpu_limit or 1, "max_retries": 0}
    if resources.memory_limit_bytes:
        options["memory"] = resources.memory_limit_bytes
    custom: dict[str, float] = {}
    count = resources.accelerator_count or 0
    if count > 0:
        kind = (resources.accelerator_type or "").strip()
        if not kind or any(word in kind.lower() for word in _NVIDIA):
            options["num_gpus"] = count
            if kind:
                # A node says which GPU it has with a custom resource of that name (as
                # `ray start --resources '{"NVIDIA_TESLA_T4": 1}'`); plain GPU nodes match
                # only an untyped request.
                custom[kind] = count
        else:
            custom[kind] = count  # TPUs and other accelerators: a custom resource each
    labels = {
        key[len(NODE_SELECTOR_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(NODE_SELECTOR_PREFIX) and value
    }
    labels.update(node_selector or {})
    for key, value in labels.items():
        custom[f"{key}={value}"] = 0.001
    if custom:
        options["resources"] = custom
    return options


def infeasible(options: Mapping[str, Any], nodes: list[Mapping[str, Any]]) -> str | None:
    """Why no alive node could ever run a task with `options`, or None when one could."""
    wanted = {"CPU": float(options.get("num_cpus") or 0)}
    if options.get("num_gpus"):
        wanted["GPU"] = float(options["num_gpus"])
    if options.get("memory"):
        wanted["memory"] = float(options["memory"])
    wanted.update({k: float(v) for k, v in (options.get("resources") or {}).items()})
    alive = [n for n in nodes if n.get("Alive")]
    for node in alive:
        have = node.get("Resources") or {}
        if all(float(have.get(k, 0)) >= v for k, v in wanted.items() if v > 0):
            return None
    asked = ", ".join(f"{k}={_amount(k, v)}" for k, v in wanted.items() if v > 0)
    return (
        f"no node of the Ray cluster can ever run it: it asks for {asked}, and none of the "
        f"{len(alive)} alive node(s) has that much"
    )


def _amount(key: str, value: float) -> str:
    return f"{value / 2**30:.2f}GiB" if key == "memory" else f"{value:g}"


class RayExecutor:
    """Runs each attempt as a Ray task on the cluster at `address` (None: a local Ray).

    Example:
        >>> executor = RayExecutor(address="10.0.0.5:6379", artifact_root="s3://b/p")
        ...                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        address: str | None,
        artifact_root: str,
        home: str | None = None,
        use_current_python: bool = False,
        on_process: ProcessListener | None = None,
        capacity: int | None = None,
        node_ip_address: str | None = None,
        sandbox: bool = False,
    ) -> None:
        """`home` is the Pinnace home on the nodes (uv cache, work folders); None: each node's
        PINNACE_HOME, else ~/.pinnace there. `sandbox` runs every step in the node's sandbox
        (bwrap on the node; an attempt fails saying so where there is none)."""
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "the ray executor needs Ray", hint="pip install 'pinnace[ray]'"
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            init: dict[str, Any] = {"address": address, "logging_level": "WARNING"}
            if node_ip_address:  # Settings.ray_node_ip (PINNACE_RAY_NODE_IP)
                init["_node_ip_address"] = node_ip_address
            try:
                ray.init(**init, log_to_driver=False)
            except Exception as exc:
                raise ExecutorError(
                    f"cannot connect to the Ray cluster at {address or 'a new local one'}: {exc}",
                    hint="check --ray-address HOST:PORT (the head's GCS port, 6379 by default)",
                ) from None
        self._artifact_root = artifact_root
        self._config = NodeConfig(home=home, use_current_python=use_current_python, sandbox=sandbox)
        self._on_process = on_process
        self._capacity = capacity
        self._cpus, self._cpus_at = 1, -_CAPACITY_TTL_S - 1.0
        self._lock = threading.Lock()
        self._running: dict[str, Any] = {}
        self._canceled: set[str] = set()
        self._remote = ray.remote(_ray_attempt)

    @property
    def capacity(self) -> int:
        """The cluster's CPUs (asked again every few seconds: nodes come and go)."""
        if self._capacity is not None:
            return self._capacity
        now = time.monotonic()
        if now - self._cpus_at > _CAPACITY_TTL_S:
            self._cpus = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
            self._cpus_at = now
        return self._cpus

    def submit(self, launch: TaskLaunch) -> Future[ExecutionOutcome]:
        future: Future[ExecutionOutcome] = Future()
        future.set_running_or_notify_cancel()
        options = ray_options(launch.resources, launch.env, launch.node_selector)
        reason = infeasible(options, self._ray.nodes())
        if launch.mounts:  # folders of this machine: another node would not have them
            remove_temporary(launch.mounts)
            reason = "the ray executor does not mount kfp-kubernetes volumes (the local one does)"
        if reason is not None:
            _append(launch, f"pinnace: {reason}\n")
            future.set_result(ExecutionOutcome(exit_code=-1, error=reason))
            return future
        generator = self._remote.options(**options, num_returns="streaming").remote(
            launch, self._config
        )
        with self._lock:
            self._running[launch.execution_id] = generator
        threading.Thread(
            target=self._follow,
            args=(launch, generator, future),
            name=f"pinnace-ray-{launch.execution_id[:8]}",
            daemon=True,
        ).start()
        return future

    def _follow(self, launch: TaskLaunch, generator: Any, future: Future[ExecutionOutcome]) -> None:
        outcome: ExecutionOutcome | None = None
        try:
            launch.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(launch.log_path, "ab", buffering=0) as log:
                for ref in generator:
                    item = self._ray.get(ref)
                    if isinstance(item, LogChunk):
                        log.write(item.data)
                    elif isinstance(item, Started):
                        self._started(launch, item)
                    elif isinstance(item, Finished):
                        log.write(item.log_tail)
                        outcome = item.outcome
                    elif isinstance(item, ExecutionOutcome):
                        outcome = item
                if outcome is None:
                    outcome = ExecutionOutcome(exit_code=-1, error="the Ray task ended silently")
        except Exception as exc:
            outcome = self._failure(launch, exc)
        finally:
            with self._lock:
                self._running.pop(launch.execution_id, None)
                self._canceled.discard(launch.execution_id)  # ended: nothing to remember
        future.set_result(outcome)

    def _started(self, launch: TaskLaunch, started: Started) -> None:
        if self._on_process is None:
            return
        identity = {**started.identity, "ray_node": started.node}
        try:
            self._on_process(launch.execution_id, identity)
        except Exception:  # the attempt runs on; only its crash recovery is weaker
            return

    def _failure(self, launch: TaskLaunch, exc: Exception) -> ExecutionOutcome:
        errors = self._ray.exceptions
        with self._lock:
            canceled = launch.execution_id in self._canceled
        if canceled or isinstance(exc, errors.TaskCancelledError):
            reason = "canceled"
        elif isinstance(exc, (errors.NodeDiedError, errors.WorkerCrashedError)) or (
            "node" in str(exc).lower() and "died" in str(exc).lower()
        ):
            reason = f"the Ray node running it died or its worker crashed ({type(exc).__name__})"
        else:
            reason = f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        _append(launch, f"pinnace: {reason}\n")
        return ExecutionOutcome(exit_code=-1, error=reason)

    def cancel(self, execution_id: str) -> None:
        with self._lock:
            generator = self._running.get(execution_id)
            if generator is not None:  # a finished or unknown execution: nothing to mark
                self._canceled.add(execution_id)
        if generator is not None:
            # Not forced: the node side catches the interrupt and kills the process tree.
            self._ray.cancel(generator, force=False)

    def kill_leftover(self, process: Mapping[str, Any]) -> int:
        """Kill what survives of an attempt on the node that ran it (if it is still alive)."""
        node = process.get("ray_node")
        if not node:
            return 0
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = {n["NodeID"] for n in self._ray.nodes() if n.get("Alive")}
        if node not in alive:
            return 0  # the node is gone, and its processes with it
        strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        task = self._ray.remote(_kill_on_node).options(
            num_cpus=0, max_retries=0, scheduling_strategy=strategy
        )
        return int(self._ray.get(task.remote(dict(process)), timeout=60))

    def close(self) -> None:
        with self._lock:
            ids = list(self._running)
        for execution_id in ids:
            self.cancel(execution_id)


def _ray_attempt(launch: TaskLaunch, config: NodeConfig) -> Any:
    """The Ray task: runs on the node Ray picked (see _ray_node)."""
    import ray

    context = ray.get_runtime_context()
    gpus = tuple(str(g) for g in ray.get_gpu_ids())
    yield from node_attempt(launch, config, gpus, context.get_node_id())


def _kill_on_node(process: dict[str, Any]) -> int:
    from ._supervision import kill_leftover

    return kill_leftover({**process, "host": socket.gethostname()})


def _append(launch: TaskLaunch, text: str) -> None:
    launch.log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(launch.log_path, "a", encoding="utf-8") as log:
        log.write(text)
