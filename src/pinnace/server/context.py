"""What a request's services need: the stores, the run manager and the server's options.

The options are `Settings.server` (pinnace.settings.ServerOptions): one configuration path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..settings import ServerOptions
from .throttle import LoginThrottle

if TYPE_CHECKING:
    from ..backend import Backend
    from .metrics import ServerMetrics
    from .run_manager import RunManager
    from .scheduler import Scheduler

#: how long an idle client connection stays open. Well above the 5 s at which kfp clients
#: poll (`wait_for_run_completion`): with uvicorn's default of 5 s the server closes a pooled
#: connection just as the client reuses it, and a POST on it fails with a connection reset.
KEEP_ALIVE_SECONDS = 75


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
    #: small per-server caches of immutable data, by name (the dashboard's run specs)
    caches: dict[str, Any] = field(default_factory=dict)
