"""What a request's services need: the stores, the run manager and the server's options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .throttle import LoginThrottle

if TYPE_CHECKING:
    from ..backend import Backend
    from .metrics import ServerMetrics
    from .run_manager import RunManager
    from .scheduler import Scheduler

DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ServerOptions:
    """Server-only options; `load` reads flags first, then `PINNACE_*` variables."""

    auth: bool = True
    path_prefix: str = ""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    #: the first admin's password; a random one is generated (and printed once) when empty
    admin_password: str | None = None
    #: how often the recurring-run scheduler looks for due slots; 0 turns it off
    scheduler_tick_seconds: float = 1.0
    #: resume the server's runs that a killed server process left unfinished
    resume_orphaned_runs: bool = True
    #: one JSON line per request on the `pinnace.server.access` logger (stderr)
    access_log: bool = True
    #: Host names besides the loopback ones that the server answers to ("*": any)
    allowed_hosts: tuple[str, ...] = ()
    #: hosts a `package_url` may name besides KFP's defaults (services/package_url.py)
    package_url_domains: tuple[str, ...] = ()

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        auth: bool | None = None,
        path_prefix: str | None = None,
        max_upload_bytes: int | None = None,
        allowed_hosts: tuple[str, ...] | None = None,
    ) -> ServerOptions:
        env = os.environ if env is None else env
        prefix = path_prefix if path_prefix is not None else env.get("PINNACE_PATH_PREFIX", "")
        size = max_upload_bytes or int(
            env.get("PINNACE_MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES
        )
        return cls(
            auth=True if auth is None else auth,
            path_prefix=normalize_prefix(prefix),
            max_upload_bytes=size,
            admin_password=env.get("PINNACE_ADMIN_PASSWORD") or None,
            scheduler_tick_seconds=float(env.get("PINNACE_SCHEDULER_TICK_SECONDS") or 1.0),
            allowed_hosts=allowed_hosts
            if allowed_hosts is not None
            else tuple(h for h in env.get("PINNACE_ALLOWED_HOSTS", "").split(",") if h.strip()),
            package_url_domains=tuple(
                d.strip()
                for d in env.get("PINNACE_PACKAGE_URL_DOMAINS", "").split(",")
                if d.strip()
            ),
        )


def normalize_prefix(prefix: str) -> str:
    """ "pipeline/" → "/pipeline"; "" and "/" → ""."""
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    return prefix


@dataclass
class ServerContext:
    backend: Backend
    manager: RunManager
    options: ServerOptions
    scheduler: Scheduler | None = None
    metrics: ServerMetrics | None = None
    #: runs a dead server left unfinished, settled at start-up and resumed by this one
    orphaned_runs: tuple[str, ...] = ()
    #: failed-login bookkeeping (per user name and per client address)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
