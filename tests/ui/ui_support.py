"""A live Pinnace server and headless Chromium for the dashboard's browser tests (and bench)."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_PASSWORD = "ui-admin-password"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A `pinnace server` in this process; `api` is an httpx client holding an admin token."""

    url: str
    home: Path
    app: Any
    api: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.Client(base_url=self.url, timeout=30)
        answer = self.api.post(
            "/apis/pinnace/v1/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        answer.raise_for_status()
        self.api.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    @property
    def store(self) -> Any:
        return self.app.state.ctx.backend.metadata

    def upload(self, spec: dict[str, Any] | Path, name: str) -> dict[str, Any]:
        """Upload a pipeline (a spec dict or a YAML file) through the KFP API."""
        data = spec.read_bytes() if isinstance(spec, Path) else json.dumps(spec).encode()
        filename = spec.name if isinstance(spec, Path) else "pipeline.json"
        answer = self.api.post(
            "/apis/v2beta1/pipelines/upload",
            params={"name": name},
            files={"uploadfile": (filename, data)},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def start_run(
        self, spec: dict[str, Any], name: str, parameters: dict[str, Any] | None = None
    ) -> str:
        """Start a run of `spec` (no pipeline upload needed) and answer its id."""
        body = {
            "display_name": name,
            "pipeline_spec": spec,
            "runtime_config": {"parameters": parameters or {}},
        }
        answer = self.api.post("/apis/v2beta1/runs", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()["run_id"]

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/apis/v2beta1/runs/{run_id}")
        answer.raise_for_status()
        return answer.json()

    def wait_run(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run.get("state") in TERMINAL:
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run.get('state')}"
            time.sleep(0.2)


@contextmanager
def live_server(home: Path, parallelism: int = 2) -> Iterator[LiveServer]:
    """uvicorn in a daemon thread on a free port, with its own home and admin password."""
    import uvicorn

    from pinnace.data import SALARY_CSV
    from pinnace.server import ServerOptions, create_app
    from pinnace.settings import Settings

    # The book's steps read their dataset from a local path: shared with the sandbox, as an
    # operator shares a datasets folder.
    shares = [str(SALARY_CSV.parent), str(Path(__file__).resolve().parents[1] / "fixtures")]
    # The book downloads its dataset from an HTTP server on this machine's loopback (the
    # test's stand-in for the internet), which an isolated step network cannot reach.
    settings = Settings.load(
        env={},
        home=str(home),
        parallelism=parallelism,
        sandbox_shares=",".join(shares),
        step_network="host",
    )
    options = ServerOptions.load(env={"PINNACE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    # One JSON line per request would bury a failing test's output.
    options = dataclasses.replace(options, access_log=False)
    app = create_app(settings, options)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="pinnace-ui-server")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard test server did not start")
        time.sleep(0.02)
    live = LiveServer(f"http://127.0.0.1:{port}", home, app)
    try:
        yield live
    finally:
        live.api.close()
        server.should_exit = True
        thread.join(30)


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"{CHROMIUM} is missing: the dashboard's browser tests drive Debian's Chromium; "
            "`bash scripts/test.sh` installs it (apt-get install chromium)"
        )
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium through playwright (never a downloaded browser); playwright
    gives every launch a fresh temporary profile."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def api_login(context: Any, server: LiveServer) -> None:
    """A browser session without the form: the login endpoint sets the context's cookies."""
    answer = context.request.post(
        f"{server.url}/apis/pinnace/v1/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "session": True},
    )
    assert answer.ok, answer.text()


def form_login(page: Any, server: LiveServer, password: str = ADMIN_PASSWORD) -> None:
    """Log in through the dashboard's login form, as a person would."""
    page.goto(f"{server.url}/#/login")
    page.locator("input[name=username], input[autocomplete=username]").first.fill("admin")
    page.locator("input[type=password]").first.fill(password)
    page.locator("form button[type=submit], form button").first.click()


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def safe_name(nodeid: str) -> str:
    """A test id as a file name: "test_x.py::test_y[a]" → "test_x.test_y-a"."""
    name = nodeid.split("/")[-1].replace(".py::", ".").replace("::", ".")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def fresh_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def insert_runs(server: LiveServer, count: int, spec: dict[str, Any], experiment_id: str) -> float:
    """Store `count` finished runs straight through the metadata store; answers the seconds."""
    import uuid
    from datetime import datetime, timedelta, timezone

    from pinnace.model.state import RunState
    from pinnace.stores.base import RunRecord

    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    states = [RunState.SUCCEEDED, RunState.FAILED, RunState.SUCCEEDED, RunState.CANCELED]
    for i in range(count):
        at = base + timedelta(seconds=i)
        server.store.create_run(
            RunRecord(
                run_id=uuid.uuid4().hex,
                pipeline_name=spec["pipelineInfo"]["name"],
                display_name=f"stored run {i:05d}",
                spec=spec,
                parameters={"text": str(i)},
                state=states[i % len(states)],
                created_at=at,
                started_at=at,
                finished_at=at + timedelta(seconds=3),
                experiment_id=experiment_id,
                namespace="admin",
            )
        )
    return time.perf_counter() - started


def create_experiment(server: LiveServer, name: str) -> str:
    answer = server.api.post("/apis/v2beta1/experiments", json={"display_name": name})
    assert answer.status_code == 200, answer.text
    return answer.json()["experiment_id"]
