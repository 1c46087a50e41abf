"""`pinnace.Client`: a kfp.Client-shaped client of a Pinnace (or KFP) server, on urllib."""

from __future__ import annotations

from ._client import Client, ClientError
from ._follow import follow_run, result_document

__all__ = ["Client", "ClientError", "follow_run", "result_document"]
