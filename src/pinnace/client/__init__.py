"""`pinnace.Client`: a kfp.Client-shaped client of a Pinnace (or KFP) server, on urllib."""

from __future__ import annotations

from ._client import Client, ClientError

__all__ = ["Client", "ClientError"]
