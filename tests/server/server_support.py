"""A live Pinnace server on a free port (uvicorn in a thread) for the server and client tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from pinnace.server import ServerOptions, create_app
from pinnace.server.context import KEEP_ALIVE_SECONDS
from pinnace.settings import Settings

ADMIN_PASSWORD = "test-admin-password"


@dataclass
class LiveServer:
    url: str
    home: Path
    settings: Settings
    app: object

    def login(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        response = httpx.post(
            f"{self.url}/apis/pinnace/v1/login", json={"username": user, "password": password}
        )
        response.raise_for_status()
        return response.json()["token"]

    def add_user(self, name: str, password: str = "user-password-1") -> str:
        from pinnace.server.services.accounts import add_user

        add_user(self.app.state.ctx.backend.metadata, name, password)
        return self.login(name, password)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(
    home: Path, *, auth: bool = True, path_prefix: str = "", max_upload_bytes: int | None = None
) -> Iterator[LiveServer]:
    settings = Settings.load(env={}, home=str(home), use_current_python=True, parallelism=4)
    options = ServerOptions.load(
        env={"PINNACE_ADMIN_PASSWORD": ADMIN_PASSWORD},
        auth=auth,
        path_prefix=path_prefix,
        max_upload_bytes=max_upload_bytes,
    )
    app = create_app(settings, options)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_SECONDS
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}{path_prefix}", home, settings, app)
    finally:
        server.should_exit = True
        thread.join(30)
