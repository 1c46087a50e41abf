"""Fixtures for the server tests: one live server per module (start-up is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_support import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("home")) as live:
        yield live


@pytest.fixture(scope="module")
def admin_token(server: LiveServer) -> str:
    return server.login()
