"""Real servers for the tests: fresh PostgreSQL and MariaDB databases, an S3 server on loopback.

PostgreSQL (127.0.0.1:5432, trust auth) and MariaDB (127.0.0.1:3306, root without password)
are expected to run already (`scripts/test.sh` starts or installs them); each test session
creates its own databases and drops them at the end. Where a server is missing the tests
that need it are skipped, unless PINNACE_TEST_SERVICES=required (set by scripts/test.sh, so
that CI fails instead of skipping). The S3 server is moto's server mode, started per session.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_HOST, PG_PORT = "127.0.0.1", int(os.environ.get("PINNACE_TEST_PG_PORT", "5432"))
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", int(os.environ.get("PINNACE_TEST_MYSQL_PORT", "3306"))


def unavailable(what: str) -> None:
    """Skip the test, or fail it where the services are required (CI)."""
    if os.environ.get("PINNACE_TEST_SERVICES") == "required":
        pytest.fail(f"{what} (PINNACE_TEST_SERVICES=required)", pytrace=False)
    pytest.skip(what)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; its SQLAlchemy URL. Dropped afterwards."""
    if not _listening(PG_HOST, PG_PORT):
        unavailable(f"no PostgreSQL server at {PG_HOST}:{PG_PORT}")
    try:
        import psycopg
    except ImportError:
        unavailable("psycopg is not installed (pip install 'pinnace[postgres]')")
    name = f"pinnace_test_{uuid.uuid4().hex[:10]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mysql_database() -> Iterator[str]:
    """A new, empty MariaDB/MySQL database; its SQLAlchemy URL. Dropped afterwards."""
    if not _listening(MYSQL_HOST, MYSQL_PORT):
        unavailable(f"no MariaDB/MySQL server at {MYSQL_HOST}:{MYSQL_PORT}")
    try:
        import pymysql
    except ImportError:
        unavailable("pymysql is not installed (pip install 'pinnace[mysql]')")
    name = f"pinnace_test_{uuid.uuid4().hex[:10]}"

    def admin(statement: str) -> None:
        conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="")
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield f"mysql+pymysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        admin(f"DROP DATABASE IF EXISTS `{name}`")


@dataclass(frozen=True)
class S3Server:
    """A moto S3 server on loopback with one bucket; `env` configures boto/s3fs clients."""

    endpoint: str
    bucket: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }

    def root(self, prefix: str | None = None) -> str:
        return f"s3://{self.bucket}/{prefix or uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    """Start `moto_server` on a free loopback port, create a bucket; stop it afterwards.

    While it runs the AWS variables of `S3Server.env` are set in this process, so that
    s3fs (and processes started from here) talk to it.
    """
    try:
        import moto  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError:
        unavailable("moto[server] and s3fs are not installed (pip install 'pinnace[test,s3]')")
    port = free_port()
    server = S3Server(endpoint=f"http://127.0.0.1:{port}", bucket="pinnace-test")
    log = open(log_dir / "moto_server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    saved = {k: os.environ.get(k) for k in server.env}
    try:
        deadline = time.monotonic() + 60
        while not _listening("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start; see {log_dir / 'moto_server.log'}")
            time.sleep(0.1)
        os.environ.update(server.env)
        import boto3

        boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket=server.bucket)
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# -- a local multi-node Ray cluster -----------------------------------------------------------

#: Ray replaces 127.0.0.1 with the machine's address; every node and the driver use this one
RAY_IP = "127.0.0.2"


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen[bytes]
    args: list[str]
    log: Path
    port: int

    def kill(self) -> None:
        """Kill the node's whole process group at once: its raylet, workers and everything."""
        import signal

        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@dataclass
class RayCluster:
    """A head and worker nodes on one machine, each in its own process group."""

    address: str
    temp_dir: Path
    nodes: dict[str, RayNode]
    starters: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.kill()

    def name_of(self, node_id: str) -> str:
        """Our name ("head", "gpu", ...) of the Ray node with this id."""
        import ray

        port = next(n["NodeManagerPort"] for n in ray.nodes() if n["NodeID"] == node_id)
        return next(name for name, node in self.nodes.items() if node.port == port)

    def restart(self, name: str) -> None:
        """Start a killed node again and wait until the whole cluster is alive."""
        _start_node(self.nodes, name, self.starters[name])
        _wait_for_nodes(self.address, len(self.nodes), self.nodes)


def free_port_block(size: int = 100) -> int:
    """The first port of `size` consecutive free loopback ports (several clusters, e.g. of
    several test sessions, may run on one machine: none uses fixed ports)."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 60000 - size)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + size):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.2", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports found")


def _ray_ports(base: int) -> list[str]:
    return [
        f"--node-manager-port={base}",
        f"--object-manager-port={base + 1}",
        f"--dashboard-agent-listen-port={base + 2}",
        f"--dashboard-agent-grpc-port={base + 3}",
        f"--runtime-env-agent-port={base + 4}",
        f"--metrics-export-port={base + 5}",
        f"--min-worker-port={base + 10}",
        f"--max-worker-port={base + 99}",
    ]


def start_ray_node(
    name: str,
    temp_dir: Path,
    extra: list[str],
    base_port: int,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> RayNode:
    ray = str(Path(sys.executable).with_name("ray"))
    args = [
        ray, "start", "--block", f"--node-ip-address={RAY_IP}", "--disable-usage-stats",
        *_ray_ports(base_port), *extra,
    ]  # fmt: skip
    env = {**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
    log = open(log_dir / f"ray-{name}.log", "wb")
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        start_new_session=True,
    )  # fmt: skip
    return RayNode(name, process, args, log_dir / f"ray-{name}.log", base_port)


@contextmanager
def ray_cluster(
    temp_dir: Path,
    workers: dict[str, list[str]],
    head: list[str] | None = None,
    log_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[RayCluster]:
    """Start a head (no CPUs: tasks go to the workers) and `workers` (name -> extra args)."""
    try:
        import ray
    except ImportError:
        unavailable("Ray is not installed (pip install 'pinnace[ray]')")
    log_dir = log_dir or temp_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    gcs_port = free_port()
    address = f"{RAY_IP}:{gcs_port}"
    nodes: dict[str, RayNode] = {}
    cluster = RayCluster(address, temp_dir, nodes)
    try:
        head_args = [
            "--head", f"--port={gcs_port}", "--include-dashboard=false",
            f"--temp-dir={temp_dir}", f"--ray-client-server-port={free_port()}",
            *(head or ["--num-cpus=0"]),
        ]  # fmt: skip
        # A fresh block of ports on every start: a retry never trips over the same clash.
        cluster.starters["head"] = lambda: start_ray_node(
            "head", temp_dir, head_args, free_port_block(), log_dir, env
        )
        _start_node(nodes, "head", cluster.starters["head"])
        _wait_for_nodes(address, 1, nodes)
        # One node at a time: on a loaded machine Ray gives a raylet 30 s to register.
        for index, (name, extra) in enumerate(workers.items()):
            args = [f"--address={address}", *extra]

            def start(name: str = name, args: list[str] = args) -> RayNode:
                return start_ray_node(name, temp_dir, args, free_port_block(), log_dir, env)

            cluster.starters[name] = start
            _start_node(nodes, name, start)
            _wait_for_nodes(address, 2 + index, nodes)
        del ray
        yield cluster
    finally:
        cluster.stop()


def _start_node(nodes: dict[str, RayNode], name: str, start: Any) -> None:
    """Start a node; start it again (up to 3 times) when it gives up during its start-up."""
    for _ in range(3):
        nodes[name] = start()
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and nodes[name].process.poll() is None:
            if "Ray runtime started" in nodes[name].log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        if nodes[name].process.poll() is None:
            return
    pytest.fail(f"Ray node {name} did not start; see {nodes[name].log}")


def _wait_for_nodes(address: str, count: int, nodes: dict[str, RayNode]) -> None:
    """Wait until `count` nodes are alive (asked from a short-lived process)."""
    probe = (
        "import ray, sys\n"
        f"ray.init(address={address!r}, _node_ip_address={RAY_IP!r}, logging_level='ERROR')\n"
        "print(sum(1 for n in ray.nodes() if n['Alive']))\n"
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for node in nodes.values():
            if node.process.poll() is not None:
                pytest.fail(f"Ray node {node.name} exited; see {node.log}")
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )  # fmt: skip
        lines = result.stdout.strip().splitlines()
        if result.returncode == 0 and lines and int(lines[-1]) >= count:
            return
        time.sleep(1)
    pytest.fail(f"the Ray cluster did not reach {count} nodes in 120 s")
