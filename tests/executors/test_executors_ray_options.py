"""How the Ray executor maps a task's resources and node selectors, and refuses the impossible.

Pure functions: no cluster needed (the cluster tests are tests/e2e/test_e2e_ray_cluster.py).
"""

from __future__ import annotations

from pinnace.executors.base import Resources
from pinnace.executors.ray import infeasible, ray_options


def test_cpu_and_memory_become_ray_resources() -> None:
    options = ray_options(Resources(cpu_limit=0.5, memory_limit_bytes=2 * 2**30), {})
    assert options == {"num_cpus": 0.5, "memory": 2 * 2**30, "max_retries": 0}
    assert ray_options(Resources(), {})["num_cpus"] == 1  # Ray's own default
    assert ray_options(Resources(), {})["max_retries"] == 0  # Pinnace's retry policy decides


def test_nvidia_accelerators_are_gpus_of_a_type_others_are_custom_resources() -> None:
    t4 = ray_options(Resources(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2), {})
    assert t4["num_gpus"] == 2 and t4["resources"] == {"NVIDIA_TESLA_T4": 2}
    untyped = ray_options(Resources(accelerator_count=1), {})
    assert untyped["num_gpus"] == 1 and "resources" not in untyped
    tpu = ray_options(Resources(accelerator_type="TPU_V4", accelerator_count=4), {})
    assert "num_gpus" not in tpu and tpu["resources"] == {"TPU_V4": 4}


def test_node_selectors_from_kubernetes_settings_and_variables() -> None:
    options = ray_options(
        Resources(), {"PINNACE_NODE_SELECTOR_ZONE": "b", "OTHER": "x"}, {"pool": "gpu"}
    )
    assert set(options["resources"]) == {"zone=b", "pool=gpu"}


NODES = [
    {"Alive": True, "Resources": {"CPU": 4.0, "memory": 8 * 2**30, "pool=cpu": 1.0}},
    {"Alive": True, "Resources": {"CPU": 2.0, "GPU": 1.0, "NVIDIA_TESLA_T4": 1.0}},
    {"Alive": False, "Resources": {"CPU": 64.0, "TPU_V4": 8.0}},
]


def test_a_request_some_node_can_hold_is_feasible() -> None:
    assert infeasible(ray_options(Resources(cpu_limit=4), {}), NODES) is None
    gpu = Resources(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1, cpu_limit=2)
    assert infeasible(ray_options(gpu, {}), NODES) is None
    assert infeasible(ray_options(Resources(), {}, {"pool": "cpu"}), NODES) is None


def test_a_request_no_alive_node_can_hold_is_refused_with_what_it_asks() -> None:
    tpu = infeasible(
        ray_options(Resources(accelerator_type="TPU_V4", accelerator_count=8), {}), NODES
    )
    assert tpu is not None and "TPU_V4=8" in tpu and "2 alive node(s)" in tpu
    both = Resources(cpu_limit=4, accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)
    assert infeasible(ray_options(both, {}), NODES) is not None  # no node has both
    memory = infeasible(ray_options(Resources(memory_limit_bytes=64 * 2**30), {}), NODES)
    assert memory is not None and "memory=64.00GiB" in memory
    assert infeasible(ray_options(Resources(), {}, {"pool": "tpu"}), NODES) is not None
