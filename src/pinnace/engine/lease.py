"""Run ownership by lease: whoever drives a run holds a lease on it, renewed by heartbeat.

A lease is three fields of the run record: `lease_owner` (a process identity: host, pid
and start time), `lease_kind` ("cli" for `pinnace run`, "server" for a server) and
`lease_expires_at`. Taking and renewing are compare-and-set writes (`update_record_if`),
so two processes never both hold one. Nobody settles, resumes or cancels a run whose lease
is live; once its holder stops renewing (it died), the lease expires within `seconds` (at
once when the holder was a process of this machine that is gone) and the run may be
adopted: a server adopts runs of kind "server" (and, by policy, orphaned CLI
runs); other CLI runs are settled FAILED with the reason.

    leases = LeaseKeeper(store, kind=CLI, seconds=15)
    if not leases.acquire(run_id, on_lost=stop_driving):
        raise RunBusyError(...)
    ...
    leases.release(run_id)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from ..errors import NotFoundError
from ..model.state import RunState
from ..stores.base import MetadataStore, RunRecord
from .owners import current_owner, owner_alive

CLI = "cli"
SERVER = "server"
#: a short lease taken by whoever settles a dead driver's run, so two settlers never race
SETTLER = "settle"
DEFAULT_SECONDS = 15.0
_LOG = logging.getLogger("pinnace.engine.lease")


class DrivingStopped(Exception):
    """Raised into a driver that must stop at once and write nothing more about its run."""


class LeaseLost(DrivingStopped):
    """Another process took the run over (this one stopped renewing in time)."""


class RunSuspended(DrivingStopped):
    """A stopping server leaves the run to be adopted by the next server to start."""


class CancelRequested(KeyboardInterrupt):
    """Another process asked to cancel the run (it is CANCELING): the driver records it
    CANCELED, as after Ctrl-C."""


def request_cancel(store: MetadataStore, run_id: str) -> bool:
    """Ask whoever drives `run_id` to cancel it: RUNNING becomes CANCELING, which the
    driver's next heartbeat sees. False when the run was not RUNNING."""
    return (
        store.update_record_if(
            RunRecord, run_id, {"state": RunState.RUNNING}, state=RunState.CANCELING
        )
        is not None
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def lease_live(run: RunRecord, now: datetime | None = None) -> bool:
    """Whether someone holds `run`'s lease right now."""
    if run.lease_owner is None or run.lease_expires_at is None:
        return False
    return _aware(run.lease_expires_at) > (now or _now())


def try_acquire(
    store: MetadataStore,
    run_id: str,
    owner: str,
    kind: str,
    seconds: float,
    now: datetime | None = None,
) -> RunRecord | None:
    """Take `run_id`'s lease for `owner` if it is free, expired or already `owner`'s.

    Returns the updated run, or None when another holder's lease is live (or another
    process took it between our read and our write).
    """
    now = now or _now()
    run = store.get_run(run_id, spec=False)
    holder = run.lease_owner
    if holder not in (None, owner) and lease_live(run, now) and owner_alive(holder):
        return None
    return store.update_record_if(  # type: ignore[no-any-return]
        RunRecord,
        run_id,
        {"lease_owner": run.lease_owner, "lease_expires_at": run.lease_expires_at},
        lease_owner=owner,
        lease_kind=kind,
        lease_expires_at=now + timedelta(seconds=seconds),
    )


def give_up(store: MetadataStore, run_id: str, owner: str) -> bool:
    """Let `owner`'s lease on `run_id` expire now (the kind stays, for whoever adopts it)."""
    return (
        store.update_record_if(RunRecord, run_id, {"lease_owner": owner}, lease_expires_at=_now())
        is not None
    )


class LeaseKeeper:
    """The leases of one driving process, renewed every `seconds / 4` by one thread."""

    def __init__(
        self,
        store: MetadataStore,
        *,
        kind: str,
        owner: str | None = None,
        seconds: float = DEFAULT_SECONDS,
    ) -> None:
        self.store = store
        self.kind = kind
        self.owner = owner or current_owner()
        self.seconds = max(1.0, seconds)
        self._held: dict[str, Callable[[], None] | None] = {}
        self._on_cancel: dict[str, Callable[[], None]] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(
        self,
        run_id: str,
        on_lost: Callable[[], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
    ) -> RunRecord | None:
        """Take the run's lease and keep renewing it: the run as it was when taken (None:
        another live holder has it).

        `on_lost` is called (from the heartbeat thread) if the lease is ever lost: another
        process took the run over, so this one must stop driving it at once. `on_cancel` is
        called once when another process asked to cancel the run (`request_cancel`).
        """
        taken = try_acquire(self.store, run_id, self.owner, self.kind, self.seconds)
        if taken is None:
            return None
        with self._lock:
            self._held[run_id] = on_lost
            if on_cancel is not None:
                self._on_cancel[run_id] = on_cancel
            self._lost.discard(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, daemon=True, name=f"pinnace-lease-{self.kind}"
                )
                self._thread.start()
        return taken

    def holds(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._held

    def lost(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._lost

    def release(self, run_id: str) -> None:
        """Stop renewing and let the lease expire now (nothing is left to drive, or a
        stopping server leaves the run to be adopted at once by the next one)."""
        with self._lock:
            held = self._held.pop(run_id, False) is not False
            self._on_cancel.pop(run_id, None)
        if held:
            try:
                give_up(self.store, run_id, self.owner)
            except Exception:  # it expires by itself anyway
                _LOG.warning("cannot release the lease of run %s", run_id, exc_info=True)

    def close(self) -> None:
        """Stop the heartbeat (leases still held expire by themselves)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def renew(self) -> list[str]:
        """One heartbeat: extend every lease held; the runs whose lease was lost."""
        with self._lock:
            held = list(self._held)
        expires = _now() + timedelta(seconds=self.seconds)
        lost = []
        for run_id in held:
            try:
                kept = self.store.update_record_if(
                    RunRecord, run_id, {"lease_owner": self.owner}, lease_expires_at=expires
                )
            except NotFoundError:  # the run was deleted
                with self._lock:
                    self._held.pop(run_id, None)
                continue
            except Exception:  # a busy or unreachable store: try again at the next beat
                _LOG.warning("cannot renew the lease of run %s", run_id, exc_info=True)
                continue
            if kept is None:
                lost.append(run_id)
            elif kept.state is RunState.CANCELING:
                with self._lock:
                    on_cancel = self._on_cancel.pop(run_id, None)
                if on_cancel is not None:
                    on_cancel()
        for run_id in lost:
            with self._lock:
                on_lost = self._held.pop(run_id, None)
                self._lost.add(run_id)
            _LOG.error("lost the lease of run %s: another process drives it now", run_id)
            if on_lost is not None:
                on_lost()
        return lost

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds / 4):
            self.renew()
