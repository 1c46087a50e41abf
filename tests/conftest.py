"""Session fixtures shared across test folders: real database, S3 servers and a Ray cluster."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from service_support import (
    RAY_IP,
    RayCluster,
    S3Server,
    mysql_database,
    postgres_database,
    s3_server,
)
from service_support import ray_cluster as start_ray_cluster

#: tests that build environments from a package index may spend minutes downloading
INDEX_TIMEOUT_SECONDS = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/ui drives Chromium: mark it `browser` (-m "not browser").
    A test marked `index` gets a longer timeout than the default (pyproject), unless it sets
    its own."""
    browser_tests = Path(__file__).parent / "ui"
    for item in items:
        if item.path.is_relative_to(browser_tests):
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("index") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(INDEX_TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB/MySQL database for this test session."""
    with mysql_database() as url:
        yield url


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server on loopback with a bucket, AWS variables pointing at it."""
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[RayCluster]:
    """A local Ray cluster, started once per session (20-40 s, about 1.3 GB): a head without
    CPUs and two workers with different resources; this process is connected to it.

    "gpu": 1 CPU, one (declared) NVIDIA_TESLA_T4 GPU, label pool=gpu;
    "cpu": 1 CPU, label pool=cpu.
    The nodes reach the session's S3 server (its AWS variables are set when they start) and
    keep their Pinnace home (uv cache, work folders) in a temporary folder.
    """
    workers = {
        "gpu": [
            "--num-cpus=1",
            "--num-gpus=1",
            '--resources={"NVIDIA_TESLA_T4": 1, "pool=gpu": 1}',
        ],
        "cpu": ["--num-cpus=1", '--resources={"pool=cpu": 1}'],
    }
    # Unix socket paths must stay short: not under pytest's deep temporary folders.
    temp = Path(tempfile.mkdtemp(prefix="pnray-", dir="/tmp"))
    node_env = {"PINNACE_HOME": str(temp / "node-home")}
    try:
        with start_ray_cluster(
            temp, workers, log_dir=tmp_path_factory.mktemp("ray"), env=node_env
        ) as cluster:
            import ray

            ray.init(address=cluster.address, _node_ip_address=RAY_IP, logging_level="WARNING")
            try:
                yield cluster
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
