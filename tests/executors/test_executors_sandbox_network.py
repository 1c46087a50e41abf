"""A sandboxed step's network: isolated (slirp4netns, no host loopback), none, or host."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinnace.executors import _sandbox
from pinnace.executors._sandbox import Sandbox, SandboxUnavailable
from pinnace.settings import Settings

needs_bwrap = pytest.mark.skipif(_sandbox.shutil.which("bwrap") is None, reason="needs bubblewrap")
needs_slirp = pytest.mark.skipif(
    _sandbox.shutil.which("bwrap") is None or _sandbox.shutil.which("slirp4netns") is None,
    reason="needs bubblewrap and slirp4netns",
)

#: the metadata stores a server may keep on this machine's loopback
DATABASE_PORTS = (5432, 3306)

PROBE = """
import json, socket, sys
found = {}
for port in map(int, sys.argv[1:]):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        found[port] = "connected"
    except OSError as exc:
        found[port] = type(exc).__name__
for via in ("10.0.2.2",):  # slirp's gateway: the host's loopback unless disabled
    try:
        socket.create_connection((via, int(sys.argv[1])), timeout=3).close()
        found[via] = "connected"
    except OSError as exc:
        found[via] = type(exc).__name__
if len(sys.argv) > 4:  # a UDP port the test listens on: datagrams through slirp's aliases
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for via in ("10.0.2.2", "10.0.2.3"):
        try:
            udp.sendto(b"knock", (via, int(sys.argv[4])))
        except OSError:
            pass
with open("/proc/net/route") as f:
    found["routes"] = [line.split()[:3] for line in f.read().splitlines()[1:]]
with open("/etc/resolv.conf") as f:
    found["resolv"] = f.read()
print(json.dumps(found))
"""


def _probe(tmp_path: Path, network: str, port: int, *more: int) -> dict:
    sandbox = Sandbox.require([tmp_path / "home"], network=network)
    work = tmp_path / f"work-{network}"
    work.mkdir()
    argv = sandbox.wrap(
        [sys.executable, "-c", PROBE, str(port), *map(str, DATABASE_PORTS), *map(str, more)],
        workdir=work,
        read_only=_sandbox.python_paths(sys.executable),
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return True
    except OSError:
        return False


@needs_slirp
def test_an_isolated_step_has_a_network_but_not_this_machines_loopback(
    tmp_path: Path, listener: int
) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    found = _probe(tmp_path, "isolated", listener, udp.getsockname()[1])
    udp.settimeout(1)
    with pytest.raises(TimeoutError):  # no datagram reached this machine's loopback
        udp.recvfrom(100)
    udp.close()
    assert found[str(listener)] != "connected"  # the server's API
    for port in DATABASE_PORTS:  # PostgreSQL, MariaDB on 127.0.0.1
        assert found[str(port)] != "connected", port
    assert found["10.0.2.2"] != "connected"  # nor through slirp's gateway
    # its own interface with a default route (outbound traffic goes through slirp4netns),
    # and slirp's resolver
    assert ["tap0", "00000000", "0202000A"] in found["routes"]
    assert "nameserver 10.0.2.3" in found["resolv"]


@needs_bwrap
def test_a_step_without_network_has_no_route_at_all(tmp_path: Path, listener: int) -> None:
    found = _probe(tmp_path, "none", listener)
    assert found[str(listener)] != "connected"
    for port in DATABASE_PORTS:
        assert found[str(port)] != "connected", port
    assert found["routes"] == []


@needs_bwrap
def test_a_host_network_step_reaches_the_loopback(tmp_path: Path, listener: int) -> None:
    """The probe can tell: sharing the host's network (the unsafe choice) shows the port."""
    found = _probe(tmp_path, "host", listener)
    assert found[str(listener)] == "connected"
    for port in DATABASE_PORTS:
        assert (found[str(port)] == "connected") == _listening(port), port


@needs_slirp
def test_slirp4netns_goes_with_its_step(tmp_path: Path) -> None:
    """Killed without warning, the launcher leaves neither sandbox nor slirp4netns behind."""
    sandbox = Sandbox.require([tmp_path / "home"])
    (tmp_path / "work").mkdir()
    argv = sandbox.wrap(["sleep", "60"], workdir=tmp_path / "work")
    launcher = subprocess.Popen(argv)
    try:
        children = _wait_for(lambda: _children(launcher.pid, "slirp4netns"))
        assert children, "slirp4netns did not start"
    finally:
        launcher.kill()
        launcher.wait()
    assert _wait_for(lambda: not any(_alive(pid) for pid in children))


def _children(parent: int, name: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if comm == name and int(rest.split()[1]) == parent:
            found.append(int(pid))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _wait_for(check, tries: int = 100):  # type: ignore[no-untyped-def]
    for _ in range(tries):
        result = check()
        if result:
            return result
        time.sleep(0.1)
    return check()


def test_missing_slirp4netns_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sandbox, "_probe", lambda bwrap: None)
    monkeypatch.setattr(_sandbox.shutil, "which", _without("slirp4netns", _sandbox.shutil.which))
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox.require()
    assert "slirp4netns is not installed" in info.value.message
    assert "apt-get install slirp4netns" in (info.value.hint or "")
    assert "--step-network none" in (info.value.hint or "")
    assert Sandbox.require(network="none").network == "none"


def _without(missing: str, real):  # type: ignore[no-untyped-def]
    def which(name: str, **kw: object) -> str | None:
        return None if name == missing else (real(name) or f"/usr/bin/{name}")

    return which


def test_the_step_network_setting(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    assert Settings.load(env={}, home=home).step_network == "isolated"
    assert Settings.load(env={"PINNACE_STEP_NETWORK": "None"}, home=home).step_network == "none"
    with pytest.raises(Exception, match="isolated"):
        Settings.load(env={"PINNACE_STEP_NETWORK": "bridge"}, home=home)


def test_a_server_refuses_to_start_without_slirp4netns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pinnace.server import ServerOptions, create_app

    monkeypatch.setattr(_sandbox, "_probe", lambda bwrap: None)
    monkeypatch.setattr(_sandbox.shutil, "which", _without("slirp4netns", _sandbox.shutil.which))
    settings = Settings.load(env={}, home=str(tmp_path / "home"), use_current_python=True)
    options = ServerOptions.load(env={"PINNACE_ADMIN_PASSWORD": "x" * 12})
    with pytest.raises(SandboxUnavailable, match="slirp4netns"):
        create_app(settings, options)
