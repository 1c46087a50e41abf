"""The Pinnace server: the KFP v2beta1 REST API (and later the dashboard) over FastAPI.

`create_app` loads FastAPI on first use, so importing this package stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerOptions", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServerOptions":
        from ..settings import ServerOptions

        return ServerOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
