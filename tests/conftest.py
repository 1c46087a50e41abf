"""Session fixtures shared across test folders: real database and S3 servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service_support import S3Server, mysql_database, postgres_database, s3_server


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
