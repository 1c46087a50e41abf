"""The public face of task supervision (see executors/_supervision.py): what the composition
root and the server need to clean up after a crashed driver."""

from __future__ import annotations

from ._supervision import MARKER, Containment, Limits, Supervisor, kill_leftover

__all__ = ["MARKER", "Containment", "Limits", "Supervisor", "kill_leftover"]
