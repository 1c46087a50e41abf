"""The fork servers of an executor: by key, bounded, evicted when idle, restarted after a crash.

Whoever forks from a server the pool has not started yet waits for its imports: the task would
have paid them in a fresh process anyway. The pool also learns what an environment's tasks
import beyond their `import` statements (a model unpickled by joblib imports the estimator's
modules) and has the environment's servers import those too; with a `memory` folder this
knowledge outlives the process (a CLI run teaches the next one).

Servers start in the order tasks need them. A server a task waits for now starts at once; the
servers of upcoming tasks (started ahead, `wait=False`) queue in the order they were asked
for (the engine announces tasks in the order they will run) and start while fewer servers
than `max_importing` (the cores this process may use) are importing: importing is nearly all
CPU, so more at once would only slow the urgent ones down. A queued server a task comes to
wait for jumps the queue.

Where this process may raise a priority again (CAP_SYS_NICE, or RLIMIT_NICE: probed once, on
a thread of its own), a server started ahead also imports at a lower CPU priority (nice +10
over this process's), so that it takes only the CPU the urgent servers and the running tasks
leave, unless it is one of the first servers of its announcement (the next tasks'); its
priority is restored as soon as a task waits for it, and always before its
imports are reported done, so every child it forks runs at the priority a fresh process would
have. Without that right servers are not niced (a niced server could not be restored and its
children would inherit the lower priority): ordering alone then bounds the competition.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .forkserver import CLOSE_SECONDS, ForkedChild, ForkServer, ForkServerError, ServerSpec

#: crashes of one key's server before its tasks start fresh for good
_MAX_CRASHES = 3
#: at most this many learned modules per environment
_MAX_LEARNED = 5000
#: how much lower the CPU priority of a server started ahead is while it imports
_BACKGROUND_NICE = 10


@dataclass
class _Slot:
    """A key's server, being started or running."""

    ready: threading.Event = field(default_factory=threading.Event)
    server: ForkServer | None = None
    failure: str | None = None
    #: waiting for its turn to start (a server for a later task, asked for ahead)
    queued: bool = False
    #: a task waits for it (its imports must not run at a lower priority)
    urgent: bool = False
    #: the server's pid once spawned, and whether it imports at a lower priority now
    pid: int = 0
    niced: bool = False
    #: when it was first asked for (servers are needed in that order)
    order: int = 0


class ForkServerPool:
    """Fork servers by key: started on demand, bounded, evicted when idle, restarted after a crash.

    `max_servers` and `max_memory` (bytes of resident memory, all servers together) bound the
    pool: a new server first evicts idle ones (least recently used); `idle_seconds` closes a
    server nobody forked from for that long (None: kept until `close`).
    """

    def __init__(
        self,
        *,
        max_servers: int = 8,
        max_memory: int | None = None,
        idle_seconds: float | None = None,
        scratch: Path | None = None,
        memory: Path | None = None,
        max_importing: int | None = None,
    ) -> None:
        """`scratch`: a folder for the servers' working folders and import output (temporary);
        `memory`: where what each environment's tasks imported is kept between processes;
        `max_importing`: servers started ahead that may import at once (default: the cores)."""
        self.max_servers = max(1, max_servers)
        self.max_importing = max(1, max_importing or len(os.sched_getaffinity(0)))
        #: servers asked for ahead, waiting for their turn to start, in the order asked
        self._queue: list[tuple[ServerSpec, _Slot]] = []
        #: servers starting (importing) now
        self._importing = 0
        #: this process's priority, which every server has once its imports are done
        self._priority = os.getpriority(os.PRIO_PROCESS, 0)
        #: whether servers started ahead import at a lower priority (probed at the first)
        self._nice: bool | None = None
        self._asked = itertools.count()
        self.max_memory = max_memory if max_memory is not None else _default_memory_budget()
        self.idle_seconds = idle_seconds
        self._slots: dict[str, _Slot] = {}
        #: environment -> every module its programs import, in order seen
        self._modules: dict[str, dict[str, list[str]]] = {}
        #: environment -> modules its tasks imported beyond that (learned from the children)
        self._learned: dict[str, dict[str, None]] = {}
        #: environments whose learned modules made a server unsafe: nothing more is learned
        self._unlearnable: set[str] = set()
        self._memory = memory
        #: keys whose tasks start fresh, and why (unsafe to fork, crashing)
        self._unsafe: dict[str, str] = {}
        self._crashes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        if scratch is not None:
            scratch.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="pinnace-forkservers-", dir=scratch))
        self._reaper: threading.Thread | None = None
        if idle_seconds:
            self._reaper = threading.Thread(
                target=self._reap_idle, name="pinnace-forkserver-idle", daemon=True
            )
            self._reaper.start()

    def learn(self, environment: str, modules: Sequence[tuple[str, list[str]]]) -> list[list[Any]]:
        """Add a program's imports to its environment's; return the environment's modules."""
        with self._lock:
            known = self._modules.setdefault(environment, {})
            for module, names in modules:
                merged = known.setdefault(module, [])
                merged.extend(n for n in names if n not in merged)
            return [[m, list(n)] for m, n in known.items()]

    def learned(self, environment: str) -> list[list[Any]]:
        """The modules the environment's tasks were seen importing (from memory at first)."""
        with self._lock:
            known = self._learned.get(environment)
            if known is None:
                names, off = self._recall(environment)
                known = self._learned[environment] = dict.fromkeys(names)
                if off:
                    self._unlearnable.add(environment)
            return [[m, []] for m in known]

    def note_imports(self, environment: str, listing: Path) -> None:
        """Read what a child imported (its `learn` file) into the environment's knowledge.

        The file is untrusted (a sandboxed child writes it in its own task folder, where the
        task could put anything): it is opened without following a link, must be a small
        regular file, and only names that are dotted Python identifiers are kept.
        """
        try:
            names = _read_listing(listing)
        except (OSError, ValueError, TypeError):
            return
        finally:
            with contextlib.suppress(OSError):
                listing.unlink()
        self.learned(environment)
        with self._lock:
            known = self._learned[environment]
            fresh = [n for n in names if n not in known and isinstance(n, str)]
            if not fresh or len(known) >= _MAX_LEARNED or environment in self._unlearnable:
                return
            known.update(dict.fromkeys(fresh))
            snapshot = list(known)
        self._remember(environment, snapshot)

    def learn_file(self, execution_id: str) -> Path:
        """Where a child lists what it imported."""
        return self._scratch / f"learn-{execution_id}.json"

    def forget_learned(self, environment: str) -> None:
        """Drop what was learned and learn no more (it made the server unsafe to fork)."""
        with self._lock:
            self._learned[environment] = {}
            self._unlearnable.add(environment)
        self._remember(environment, [], off=True)

    def _memory_file(self, environment: str) -> Path | None:
        if self._memory is None:
            return None
        name = hashlib.sha256(environment.encode()).hexdigest()[:24]
        return self._memory / f"{name}.json"

    def _recall(self, environment: str) -> tuple[list[str], bool]:
        """The remembered modules of `environment`, and whether learning is off for it."""
        path = self._memory_file(environment)
        if path is None:
            return [], False
        try:
            found = json.loads(path.read_text())
            names = [n for n in found["modules"] if isinstance(n, str) and _learnable(n)]
            return names, bool(found.get("off"))
        except (OSError, ValueError, TypeError, KeyError):
            return [], False

    def _remember(self, environment: str, names: list[str], *, off: bool = False) -> None:
        path = self._memory_file(environment)
        if path is None:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            temporary.write_text(json.dumps({"modules": names, "off": off}))
            os.replace(temporary, path)

    def give_up(self, key: str, reason: str) -> None:
        """Start `key`'s tasks fresh from now on (its server ends once idle)."""
        self._mark_unsafe(key, reason)

    def unsafe_reason(self, key: str) -> str | None:
        with self._lock:
            return self._unsafe.get(key)

    def acquire(
        self, spec: ServerSpec, *, wait: bool = True, soon: bool = False
    ) -> ForkServer | None:
        """The running server for `spec` (started if needed), None when tasks must start fresh.

        With `wait` False a missing server is started in the background (in its turn) and
        None returned; it imports at a lower CPU priority unless `soon` (a task needs it
        next) or a task comes to wait for it.
        """
        with self._lock:
            if self._closed.is_set() or spec.key in self._unsafe:
                return None
            slot = self._slots.get(spec.key)
            if (
                slot is not None
                and slot.ready.is_set()
                and (slot.server is None or not slot.server.alive)
            ):
                self._forget(spec.key, slot)
                slot = None
            starting = False
            if slot is None:
                slot = _Slot(urgent=wait or soon, order=next(self._asked))
                self._slots[spec.key] = slot
                if wait:
                    starting = True
                    self._importing += 1
                else:
                    slot.queued = True
                    self._queue.append((spec, slot))
            elif (wait or soon) and not slot.urgent:
                slot.urgent = True
            if wait and slot.queued:  # a task needs it now: it jumps the queue
                self._queue = [(q, s) for q, s in self._queue if s is not slot]
                slot.queued = False
                starting = True
                self._importing += 1
        if slot.urgent and slot.niced:
            self._restore_priority(slot)  # importing ahead, needed now or next: full priority
        if starting:
            self._start(spec, slot)
        elif not wait:
            self._admit()
            if not slot.ready.is_set():
                return None
        slot.ready.wait()
        server = slot.server
        if server is None or not server.alive:
            return None
        modules = self.learn(spec.environment, ())
        learned = self.learned(spec.environment)
        if not server.knows([*modules, *learned]):
            args = (spec, server, modules, learned)
            if not wait:
                threading.Thread(target=self._preload, args=args, daemon=True).start()
                return None
            if not self._preload(*args):
                return None
        return server

    def _preload(
        self,
        spec: ServerSpec,
        server: ForkServer,
        modules: list[list[Any]],
        learned: list[list[Any]],
    ) -> bool:
        """Have `server` import more of its environment's modules; False if now unsafe."""
        try:
            reply = server.preload(modules, learned)
        except OSError:
            return False
        if server.retired is None:
            return True
        if reply.get("by_learned"):
            # What earlier tasks imported made it unsafe: forget that and start over.
            self.forget_learned(spec.environment)
            self._retire(spec.key, server)
        else:
            self._mark_unsafe(spec.key, server.retired)
        return False

    def watch(self, child: ForkedChild, environment: str, listing: Path) -> None:
        """Learn from `child`'s imports once it ends."""
        child.on_end = lambda: self.note_imports(environment, listing)

    def stats(self) -> list[dict[str, Any]]:
        """Each running server: key, pid, environment, memory, children in flight, import report."""
        with self._lock:
            servers = [s.server for s in self._slots.values() if s.server is not None]
        return [
            {
                "pid": s.pid,
                "environment": s.spec.environment,
                "python": s.spec.python,
                "packages": sorted(s.spec.packages),
                "in_flight": s.in_flight,
                **s.memory(),
                "imports_seconds": s.report.get("seconds"),
                "modules": s.report.get("modules"),
            }
            for s in servers
            if s.alive
        ]

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
            queued, self._queue = self._queue, []
        for _, slot in queued:  # never started: nobody may wait for them
            slot.ready.set()
        # One still importing is closed by its starting thread when ready (not waited for:
        # a CLI run must not end later because a server it never used was starting).
        servers = [s.server for s in slots if s.ready.is_set() and s.server is not None]
        for server in servers:  # all told first, then waited for: they exit together
            server.begin_close()
        deadline = time.monotonic() + CLOSE_SECONDS
        for server in servers:
            server.finish_close(deadline)
        with contextlib.suppress(OSError):
            for leftover in self._scratch.iterdir():
                leftover.unlink()
            self._scratch.rmdir()

    # -- internals ----------------------------------------------------------------------------

    def _admit(self) -> None:
        """Start queued servers, first asked first, while fewer than `max_importing` import."""
        while True:
            with self._lock:
                if not self._queue or self._importing >= self.max_importing:
                    return
                spec, slot = self._queue.pop(0)
                slot.queued = False
                self._importing += 1
            threading.Thread(
                target=self._start, args=(spec, slot), name="pinnace-forkserver-start", daemon=True
            ).start()

    def _start(self, spec: ServerSpec, slot: _Slot) -> None:
        """Start `spec`'s server (counted in `_importing` by the caller), then admit others."""
        try:
            self._started(spec, slot)
        finally:
            with self._lock:
                self._importing -= 1
            self._promote()
            self._admit()

    def _started(self, spec: ServerSpec, slot: _Slot) -> None:
        if not slot.urgent and self._nice is None:
            self._nice = _priority_restorable()

        def spawned(pid: int) -> None:
            with self._lock:
                slot.pid = pid
                if slot.urgent or not self._nice:
                    return
                slot.niced = _set_priority(pid, min(19, self._priority + _BACKGROUND_NICE))

        try:
            self._make_room(spec.key)
            modules = self.learn(spec.environment, ())
            try:
                learned = self.learned(spec.environment)
                slot.server = ForkServer(spec, modules, self._scratch, learned, spawned)
            except ForkServerError as exc:
                if not exc.by_learned:
                    raise
                self.forget_learned(spec.environment)
                slot.server = ForkServer(spec, modules, self._scratch, on_spawn=spawned)
            if slot.niced and not self._restore_priority(slot):
                # Its children would inherit the lower priority: not a server to fork from.
                self._nice = slot.niced = False
                slot.server.close()
                slot.server = ForkServer(spec, modules, self._scratch)
        except ForkServerError as exc:
            slot.failure = str(exc)
            self._mark_unsafe(spec.key, str(exc))
        except Exception as exc:  # never let a start failure escape: the task starts fresh
            slot.failure = f"{type(exc).__name__}: {exc}"
            self._mark_unsafe(spec.key, slot.failure)
        finally:
            slot.ready.set()
        if self._closed.is_set() and slot.server is not None:
            slot.server.close()
        else:
            self._make_room(spec.key)

    def _behind(self, slot: _Slot) -> bool:
        """Whether a server needed before `slot` is still importing (lock held): one a task
        waits for or needs next, or one asked for earlier."""
        return any(
            s is not slot
            and not s.queued
            and not s.ready.is_set()
            and (s.urgent or s.order < slot.order)
            for s in self._slots.values()
        )

    def _promote(self) -> None:
        """A server just finished importing: give a niced one that no longer imports behind
        others its priority back.

        Nothing needed before it imports any more: it is the one a task will wait for next,
        and at a lower priority it would lose the CPU to any other program on the machine (a
        book run's last server, importing while the steps before it run).
        """
        with self._lock:
            ahead = [
                s
                for s in self._slots.values()
                if s.niced and not s.ready.is_set() and not self._behind(s)
            ]
        for slot in ahead:
            self._restore_priority(slot)

    def _restore_priority(self, slot: _Slot) -> bool:
        """Give a niced server this process's priority back; False if that was refused."""
        with self._lock:
            if not slot.niced:
                return True
            slot.niced = not _set_priority(slot.pid, self._priority, missing_ok=True)
            return not slot.niced

    def _forget(self, key: str, slot: _Slot) -> None:
        """Drop a dead server (lock held); too many crashes and the key starts fresh."""
        del self._slots[key]
        server = slot.server
        if server is not None and server.retired not in (None, "closed"):
            retired = server.retired or ""
            if retired.startswith("unsafe"):
                self._unsafe[key] = retired
            else:
                self._crashes[key] = self._crashes.get(key, 0) + 1
                if self._crashes[key] >= _MAX_CRASHES:
                    self._unsafe[key] = f"its fork server crashed {_MAX_CRASHES} times"

    def _mark_unsafe(self, key: str, reason: str) -> None:
        with self._lock:
            self._unsafe[key] = reason
            slot = self._slots.pop(key, None)
        if slot is not None and slot.server is not None:
            # Children in flight finish; the server ends once it has none.
            threading.Thread(target=_close_when_idle, args=(slot.server,), daemon=True).start()

    def _retire(self, key: str, server: ForkServer) -> None:
        """Stop using `server` (a new one starts at the next acquire); it ends when idle."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.server is server:
                del self._slots[key]
        threading.Thread(target=_close_when_idle, args=(server,), daemon=True).start()

    def _make_room(self, keep: str) -> None:
        """Evict idle servers, least recently used first, while over the bounds."""
        while True:
            with self._lock:
                running = [
                    (k, s.server)
                    for k, s in self._slots.items()
                    if s.server is not None and s.server.alive
                ]
                count = sum(not s.queued for s in self._slots.values())
            memory = sum(server.memory()["rss"] for _, server in running)
            if count <= self.max_servers and memory <= self.max_memory:
                return
            idle = sorted(
                ((k, s) for k, s in running if k != keep and s.in_flight == 0),
                key=lambda item: item[1].last_used,
            )
            if not idle:
                return
            self._evict(*idle[0])

    def _evict(self, key: str, server: ForkServer) -> None:
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.server is server:
                del self._slots[key]
        server.close()

    def _reap_idle(self) -> None:
        assert self.idle_seconds is not None
        while not self._closed.wait(max(1.0, self.idle_seconds / 4)):
            now = time.monotonic()
            with self._lock:
                idle = [
                    (k, s.server)
                    for k, s in self._slots.items()
                    if s.server is not None
                    and s.server.in_flight == 0
                    and now - s.server.last_used > self.idle_seconds
                ]
            for key, server in idle:
                self._evict(key, server)


_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: the largest listing read (a child lists at most what it imported)
_MAX_LISTING_BYTES = 1 << 20


def _read_listing(listing: Path) -> list[str]:
    """The module names in a child's `learn` file (see `ForkServerPool.note_imports`)."""
    fd = os.open(listing, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{listing} is not a regular file")
        text = f.read(_MAX_LISTING_BYTES + 1)
    if len(text) > _MAX_LISTING_BYTES:
        raise ValueError(f"{listing} is too large")
    entries = json.loads(text)
    if not isinstance(entries, list):
        raise ValueError(f"{listing} is not a list")
    names = [e[0] if isinstance(e, list) and e else None for e in entries]
    return [n for n in names if isinstance(n, str) and _learnable(n)]


#: standard modules that act when imported (print, open a browser, start a GUI or a test run)
_ACTING_ON_IMPORT = frozenset(
    {"this", "antigravity", "idlelib", "test", "tkinter", "turtle", "turtledemo", "pydoc_data"}
)


def _learnable(name: str) -> bool:
    """Whether a fork server may import `name` because a task did.

    The name comes from a task (a sandboxed one writes its listing where its own code could
    put anything), so only a plain module path is kept: no dunder part (`venv.__main__`,
    `unittest.__main__` run a program when imported; `__hello__` prints) and no standard
    module known to act when imported. What a kept name's import prints is dropped by the
    server (runtime/forkserver.py, `_silenced`)."""
    if len(name) > 200 or not _MODULE_NAME.match(name):
        return False
    parts = name.split(".")
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        return False
    return parts[0] not in _ACTING_ON_IMPORT


def _set_priority(pid: int, priority: int, *, missing_ok: bool = False) -> bool:
    """Set `pid`'s nice value; False when refused (or, unless `missing_ok`, it is gone)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, priority)
    except ProcessLookupError:
        return missing_ok
    except OSError:
        return False
    return True


def _priority_restorable() -> bool:
    """Whether this process may lower a nice value it raised (CAP_SYS_NICE or RLIMIT_NICE).

    Probed on a thread of its own (a nice value is per thread on Linux), which ends after:
    a refusal leaves nothing else at the lower priority.
    """
    answer: list[bool] = []

    def probe() -> None:
        me = threading.get_native_id()
        try:
            base = os.getpriority(os.PRIO_PROCESS, me)
            os.setpriority(os.PRIO_PROCESS, me, min(19, base + 1))
            os.setpriority(os.PRIO_PROCESS, me, base)
        except OSError:
            return
        answer.append(True)

    thread = threading.Thread(target=probe, name="pinnace-priority-probe", daemon=True)
    thread.start()
    thread.join()
    return bool(answer)


def _close_when_idle(server: ForkServer) -> None:
    while server.in_flight and server.running:
        time.sleep(0.1)
    server.close()


def _default_memory_budget() -> int:
    """A quarter of the machine's memory, at most 4 GiB, for all fork servers together."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return min(total // 4, 4 << 30)
