"""What a request's services need: the stores, the run manager and the server's options.

The options are `Settings.server` (pinnace.settings.ServerOptions): one configuration path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..settings import ServerOptions
from .throttle import LoginThrottle

if TYPE_CHECKING:
    from ..backend import Backend
    from .metrics import ServerMetrics
    from .run_manager import RunManager
    from .scheduler import Scheduler


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
