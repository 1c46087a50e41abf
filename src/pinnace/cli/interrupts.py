"""Signals to a command that drives a run: SIGTERM and SIGHUP act as Ctrl-C; twice kills now.

The first SIGINT, SIGTERM or SIGHUP raises `Interrupted` (a KeyboardInterrupt) in the main
thread: the driver cancels the running tasks (SIGTERM to each task's tree, SIGKILL after a
grace period) and records the run CANCELED. A second signal while that happens kills every
task tree at once but raises nothing, so the record is still written in full. The command
then exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A driving command was asked to stop by signal `signum`."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        by = "by the user" if signum == signal.SIGINT else f"by {name} to the pinnace process"
        super().__init__(f"canceled {by}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def interruptible(kill_now: Callable[[], None]) -> Iterator[None]:
    """Inside: the signals above interrupt as described; `kill_now` is the second signal's."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Interrupted(signum)
        kill_now()

    previous = {s: signal.signal(s, handle) for s in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
