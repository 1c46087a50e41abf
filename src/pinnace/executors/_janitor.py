"""Clean-up that must happen, but after an attempt's result is reported: one background thread.

Removing a succeeded attempt's folder (a dozen unlinks, each a journal operation that waits
behind other processes' fsyncs on a busy disk) and its emptied cgroups (rmdir waits while
the kernel accounts the last exits) cost a trivial task several milliseconds; nothing that
follows needs them gone at once. The guarantees stay synchronous: an attempt's processes are
killed before its result is reported, and a folder handed over is renamed away first, so a
later attempt reusing its path never meets it.

    janitor = Janitor()
    janitor.defer(lambda: shutil.rmtree(trash, ignore_errors=True))
    janitor.close()   # waits for what was deferred; later jobs run at once, in the caller

If the process dies first, what is left is found as garbage as before: `pinnace gc` (work
folders of finished runs) and the next supervisor's sweep (groups of dead supervisors).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

_LOG = logging.getLogger("pinnace.executors.janitor")


class Janitor:
    """Runs deferred clean-up jobs, in order, on one daemon thread started at the first job."""

    def __init__(self, name: str = "pinnace-janitor") -> None:
        self._name = name
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def defer(self, job: Callable[[], object]) -> None:
        """Run `job` soon, off the caller's path (at once in the caller once closed)."""
        with self._lock:
            if not self._closed:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                    self._thread.start()
                self._jobs.put(job)
                return
        _run(job)

    def flush(self) -> None:
        """Wait until every job deferred so far has run."""
        with self._lock:
            started = self._thread is not None
        if started:
            self._jobs.join()

    def close(self) -> None:
        """Run what is queued, stop the thread; later jobs run in their caller."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._jobs.put(None)
            thread.join()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                _run(job)
            finally:
                self._jobs.task_done()


def _run(job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:  # clean-up only: what is left is garbage for `pinnace gc` or the sweep
        _LOG.warning("deferred clean-up failed", exc_info=True)
