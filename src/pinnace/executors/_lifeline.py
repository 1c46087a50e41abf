"""Processes that must not outlive this one (fork servers): started from one long-lived thread.

A fork server ends when its socket closes, but a stopped one (SIGSTOP from one of its tasks,
which share its uid) reads nothing: only a parent-death signal (PR_SET_PDEATHSIG: `setpriv
--pdeathsig`, bwrap's `--die-with-parent`) kills it once this process dies, even by SIGKILL.
Linux sends that signal when the *thread* that forked the child ends, not the process, and
servers are asked for from short-lived threads (the pool's starting threads, attempt
threads): a server started there would be killed as soon as that thread returned. So every
such process is started from this module's thread, which lives as long as the process.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

_T = TypeVar("_T")

_requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_lock = threading.Lock()
#: the process whose thread serves `_requests` (a forked copy of this process starts its own)
_owner = 0


def spawn(start: Callable[[], _T]) -> _T:
    """Run `start` (it starts a process) on the long-lived thread; its result, or its error.

    The process started may then hold a parent-death signal: it fires when this process ends.
    """
    global _owner
    with _lock:
        if _owner != os.getpid():
            _owner = os.getpid()
            threading.Thread(target=_serve, name="pinnace-lifeline", daemon=True).start()
    done: Future[_T] = Future()
    _requests.put((start, done))
    return done.result()


def death_prefix() -> list[str]:
    """The argv prefix that gives a program SIGKILL when its parent thread ends (none without
    util-linux's setpriv; bwrap's `--die-with-parent` does the same for a sandbox)."""
    return ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


def _serve() -> None:
    while True:
        start, done = _requests.get()
        try:
            done.set_result(start())
        except BaseException as exc:  # handed to the caller, never lost here
            done.set_exception(exc)
