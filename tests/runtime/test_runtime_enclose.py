"""A forked child's own sandbox (runtime/enclose.py + executors/_enclosure.py), for real.

A minimal server (enclose_harness.py) runs in `Sandbox.wrap_server` under bubblewrap, as a
sandboxed fork server does, and forks a child per probe; the test does the executor's side
of the handshake. Root only (as a `pinnace server` running steps as nobody).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pinnace.executors._enclosure import (
    STEP_ID_BASE,
    Enclosure,
    EnclosureError,
    enclose,
    open_channel,
    plan_mounts,
)
from pinnace.executors._sandbox import NO_NETWORK, Sandbox, python_paths
from pinnace.executors._supervision import Supervisor
from pinnace.executors.runtime_copy import materialize_runtime
from pinnace.runtime.framing import recv_message, send_message

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap"
)
HARNESS = Path(__file__).with_name("enclose_harness.py")


@dataclass
class Server:
    sock: socket.socket
    process: subprocess.Popen[bytes]
    enclosure: Enclosure
    home: Path
    work: Path
    artifacts: Path
    supervisor: Supervisor

    def probe(
        self,
        code: str,
        workdir: Path,
        inputs: list[Path] = (),
        tmp: Path | None = None,  # type: ignore[assignment]
    ) -> tuple[dict[str, Any], int, int]:
        """Run `code` in a freshly enclosed child; (its result, exit status, host pid)."""
        out = (tmp or self.home.parent) / f"out-{os.urandom(4).hex()}.json"
        ours, theirs = open_channel()
        with open(out, "w+b") as result_file:
            send_message(
                self.sock,
                {"probe": code, "spec": self.enclosure.child_spec()},
                [theirs.fileno(), result_file.fileno()],
            )
            theirs.close()
            reply, _ = recv_message(self.sock)
            assert reply is not None
            mounts = plan_mounts(workdir, [str(p) for p in inputs], self.enclosure.bases)
            assert not isinstance(mounts, str), mounts
            attempt = self.supervisor.contain(f"probe-{os.urandom(3).hex()}")
            try:
                enclosed = enclose(
                    ours,
                    ns_pid=reply["pid"],
                    enclosure=self.enclosure,
                    mounts=mounts,
                    attempt=attempt,
                )
                ended, _ = recv_message(self.sock)
            finally:
                attempt.close()
            assert ended is not None
            text = out.read_text()
        return (json.loads(text) if text else {}), ended["exit"], enclosed.host_pid


@pytest.fixture(params=[True, False], ids=["own ids", "self-mapped"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A harness server; its children get host ids of their own (root) or map their own
    (as when Pinnace does not run as root)."""
    home = tmp_path / "home"
    work, artifacts = home / "work", home / "artifacts"
    for folder in (work, artifacts):
        folder.mkdir(parents=True)
    (home / "pinnace.db").write_text("secret database")
    runtime = materialize_runtime(home)
    sandbox = Sandbox.require([home], network=NO_NETWORK)
    enclosure = Enclosure((work, artifacts), NO_NETWORK, own_ids=request.param)
    ours, theirs = socket.socketpair()
    harness_dir = tmp_path / "harness"
    harness_dir.mkdir()
    shutil.copy(HARNESS, harness_dir / HARNESS.name)
    os.chmod(tmp_path, 0o755)
    argv = sandbox.wrap_server(
        [sys.executable, "-I", str(harness_dir / HARNESS.name), str(runtime), str(theirs.fileno())],
        read_only=[*python_paths(sys.executable), runtime, harness_dir],
        bases=[work, artifacts],
    )
    process = subprocess.Popen(argv, pass_fds=[theirs.fileno()])
    theirs.close()
    supervisor = Supervisor()
    yield Server(ours, process, enclosure, home, work, artifacts, supervisor)
    ours.close()
    process.wait(timeout=10)
    supervisor.close()


def _attempt_folder(server: Server, name: str) -> Path:
    folder = server.work / "run-1" / name / "1"
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("mine")
    os.chown(folder, 65534, 65534)
    os.chown(folder / "mine.txt", 65534, 65534)
    return folder


_ISOLATION_PROBE = r"""
import ctypes, os, errno
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
def write(path):
    with open(path, "w") as f:
        f.write("x")
status = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in open("/proc/self/status")}
result["uid"] = os.getuid()
result["uid_map"] = open("/proc/self/uid_map").read().split()
result["gid_map"] = open("/proc/self/gid_map").read().split()
result["signal_server"] = attempt(lambda: os.kill(os.getppid(), 0))
result["caps"] = [status[k] for k in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")]
result["no_new_privs"] = status["NoNewPrivs"]
result["work"] = sorted(os.listdir(WORK))
result["run"] = sorted(os.listdir(WORK + "/run-1"))
result["artifacts"] = sorted(os.listdir(ARTS))
result["home"] = sorted(os.listdir(HOME))
result["db"] = os.path.exists(HOME + "/pinnace.db")
result["mine"] = open(TASK + "/mine.txt").read()
result["write_task"] = attempt(lambda: write(TASK + "/out.txt"))
result["read_input"] = open(INPUT).read()
result["write_input"] = attempt(lambda: write(INPUT))
result["write_base"] = attempt(lambda: write(WORK + "/planted"))
result["write_tmp"] = attempt(lambda: write("/tmp/mine"))
result["tmp"] = sorted(os.listdir("/tmp"))
result["write_root"] = attempt(lambda: write("/planted"))
libc = ctypes.CDLL(None, use_errno=True)
result["umount"] = libc.umount2(TASK.encode(), 2)
pid = os.fork()
if pid == 0:
    code = 0
    if libc.unshare(0x10000000 | 0x00020000) == 0:
        if libc.umount2(TASK.encode(), 2) == 0 or libc.umount2(INPUT.encode(), 2) == 0:
            code |= 1
        if libc.mount(None, INPUT.encode(), None, 0x20 | 0x1000 | 0x2 | 0x4, None) == 0:
            code |= 2
        if libc.mount(None, WORK.encode(), None, 0x20 | 0x1000 | 0x2 | 0x4, None) == 0:
            code |= 4
        try:
            write(INPUT)
            code |= 8
        except OSError:
            pass
    os._exit(code)
result["nested"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""


def _probe_code(server: Server, task: Path, input_file: Path) -> str:
    names = {"WORK": server.work, "ARTS": server.artifacts, "HOME": server.home, "TASK": task}
    head = "".join(f"{k} = {str(v)!r}\n" for k, v in {**names, "INPUT": input_file}.items())
    return head + _ISOLATION_PROBE


def test_a_child_sees_only_its_task_folder_and_inputs_and_keeps_no_capability(
    server: Server,
) -> None:
    task = _attempt_folder(server, "train")
    other = _attempt_folder(server, "other")
    (other / "secret.txt").write_text("the other attempt's")
    input_file = server.artifacts / "run-1" / "prepare" / "data.csv"
    input_file.parent.mkdir(parents=True)
    input_file.write_text("a,b\n")
    (server.artifacts / "run-1" / "prepare" / "other.csv").write_text("not an input")
    result, code, host_pid = server.probe(_probe_code(server, task, input_file), task, [input_file])
    assert code == 0 and "probe_error" not in result, result
    assert result["uid"] == 65534
    own_id = str(STEP_ID_BASE + host_pid) if server.enclosure.own_ids else "65534"
    assert result["uid_map"] == ["65534", own_id, "1"] == result["gid_map"]
    assert result["signal_server"] == ("EPERM" if server.enclosure.own_ids else "ok")
    assert result["caps"] == ["0000000000000000"] * 5 and result["no_new_privs"] == "1"
    assert result["work"] == ["run-1"] and result["run"] == ["train"]  # no other attempt
    assert result["artifacts"] == ["run-1"]
    assert result["home"] == ["artifacts", "work"] and result["db"] is False
    assert result["mine"] == "mine" and result["write_task"] == "ok"
    assert (task / "out.txt").read_text() == "x"  # its folder is the real one
    assert result["read_input"] == "a,b\n"
    assert result["write_input"] in ("EROFS", "EACCES")
    assert result["write_base"] in ("EROFS", "EACCES")
    assert result["write_root"] in ("EROFS", "EACCES")
    # (the bases' parents, under /tmp here, are made in its private /tmp, as bwrap makes them)
    assert result["write_tmp"] == "ok" and "mine" in result["tmp"]
    assert result["umount"] == -1
    assert result["nested"] == 0, "a nested user namespace undid part of the sandbox"
    assert input_file.read_text() == "a,b\n"


def test_tmp_is_private_to_each_child(server: Server) -> None:
    task = _attempt_folder(server, "a")
    first, code, _ = server.probe("open('/tmp/left', 'w').write('x')\nresult['ok'] = 1", task)
    assert code == 0 and first == {"ok": 1}
    second, code, _ = server.probe("import os\nresult['tmp'] = os.listdir('/tmp')", task)
    assert code == 0 and "left" not in second["tmp"]


def test_the_host_pid_comes_from_the_kernel(server: Server) -> None:
    task = _attempt_folder(server, "a")
    code_text = (
        "import os, time\nresult['pid'] = os.getpid()\n"
        "result['cgroup'] = open('/proc/self/cgroup').read()"
    )
    result, code, host_pid = server.probe(code_text, task)
    assert code == 0
    assert host_pid != result["pid"]  # the server's pid namespace numbers are not host pids
    assert "probe-" in result["cgroup"] or server.supervisor.mode == "subreaper"


def test_a_path_outside_the_bases_cannot_be_mounted(server: Server, tmp_path: Path) -> None:
    task = _attempt_folder(server, "a")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    assert "outside" in str(plan_mounts(task, [str(outside)], server.enclosure.bases))
    link = server.artifacts / "link"
    link.symlink_to(server.home / "pinnace.db")  # resolves outside the bases
    assert "outside" in str(plan_mounts(task, [str(link)], server.enclosure.bases))


def test_a_failed_setup_runs_no_task_code(server: Server) -> None:
    task = _attempt_folder(server, "a")
    plan = plan_mounts(task, [], server.enclosure.bases)
    assert not isinstance(plan, str)
    # a mount whose target lies outside the child's bases: the child refuses to mount it
    # on the server's read-only root and must exit without running the probe
    bad = [type(plan[0])(plan[0].source, Path("/opt/elsewhere/task"), False, True)]
    ours, theirs = open_channel()
    marker = server.home.parent / "ran.txt"
    code_text = f"open({str(marker)!r}, 'w').write('ran')"
    with open(server.home.parent / "bad.json", "w+b") as out:
        send_message(
            server.sock,
            {"probe": code_text, "spec": server.enclosure.child_spec()},
            [theirs.fileno(), out.fileno()],
        )
        theirs.close()
        reply, _ = recv_message(server.sock)
        assert reply is not None
        attempt = server.supervisor.contain("bad")
        with pytest.raises(EnclosureError):
            enclose(
                ours, ns_pid=reply["pid"], enclosure=server.enclosure, mounts=bad, attempt=attempt
            )
        ended, _ = recv_message(server.sock)
        attempt.close()
    assert ended is not None and ended["exit"] in (125, -9)
    assert not marker.exists()
