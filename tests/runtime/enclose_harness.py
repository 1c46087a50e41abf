"""A minimal sandboxed "fork server" for test_runtime_enclose.py: forks one child per request.

Run as `python -I enclose_harness.py RUNTIME_DIR FD` inside `Sandbox.wrap_server`. Each
request on socket FD carries {"probe": python source, "spec": enclose spec} and two fds (the
child's control socket, a file for the probe's JSON result). The server answers {"pid": its
child's pid here}, then {"exit": status}. The child enters its sandbox with
`pinnace_runtime.enclose.enter`, then runs the probe, which fills the dict `result`.
"""

import json
import os
import socket
import sys

sys.path.insert(0, sys.argv[1])

from pinnace_runtime import enclose
from pinnace_runtime.framing import recv_message, send_message


def child(request: dict, control: socket.socket, out: int) -> None:
    try:
        enclose.enter(control, request["spec"])
    except enclose.EncloseError as exc:
        enclose.fail(control, str(exc))
        os._exit(enclose.EXIT_NOT_ENCLOSED)
    control.close()
    result: dict = {}
    try:
        exec(request["probe"], {"result": result, "__name__": "probe"})
    except BaseException as exc:
        result["probe_error"] = repr(exc)
    os.write(out, json.dumps(result).encode())
    os._exit(0)


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[2]))
    enclose._libc()
    while True:
        request, fds = recv_message(sock)
        if request is None:
            return
        control_fd, out = fds
        pid = os.fork()
        if pid == 0:
            sock.close()
            child(request, socket.socket(fileno=control_fd), out)
        os.close(control_fd)
        os.close(out)
        send_message(sock, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        send_message(sock, {"exit": os.waitstatus_to_exitcode(status)})


main()
