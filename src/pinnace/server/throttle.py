"""Login throttling: growing delays after failed logins, per user name and per client address.

Each key (a user name, a client address) may fail `free_failures` times; every failure after
that locks the key for `base_seconds * 2 ** (extra failures - 1)` seconds, capped at
`max_seconds`. A locked key is refused before its password is checked (HTTP 429 with
Retry-After), so guessing runs at most at the lockout's pace and costs no scrypt time. A
successful login clears its user name and address. Failures are forgotten after
`forget_seconds` without any, and at most `max_keys` keys are kept (oldest dropped first) so
that a flood of made-up names cannot grow memory without bound.

Example:
    >>> throttle = LoginThrottle()
    >>> throttle.check("alice", "10.0.0.7")      # raises TooManyRequestsError when locked
    >>> throttle.failed("alice", "10.0.0.7")
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .errors import TooManyRequestsError


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free and how long the lockouts after them grow."""

    free_failures: int = 5
    base_seconds: float = 1.0
    max_seconds: float = 15 * 60.0
    forget_seconds: float = 3600.0
    max_keys: int = 10_000

    def lock_seconds(self, failures: int) -> float:
        extra = failures - self.free_failures
        if extra <= 0:
            return 0.0
        return min(self.max_seconds, self.base_seconds * 2 ** min(extra - 1, 40))


#: per user name: a few typos are free; per address: more (several users behind one NAT)
USER_POLICY = ThrottlePolicy(free_failures=5)
ADDRESS_POLICY = ThrottlePolicy(free_failures=20)


@dataclass
class _Entry:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class _Counter:
    """Failures and lockouts for one kind of key."""

    def __init__(self, policy: ThrottlePolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def wait_seconds(self, key: str) -> float:
        entry = self._live(key)
        return max(0.0, entry.locked_until - self._clock()) if entry else 0.0

    def fail(self, key: str) -> None:
        now = self._clock()
        entry = self._live(key) or _Entry()
        entry.failures += 1
        entry.last_failure = now
        entry.locked_until = now + self.policy.lock_seconds(entry.failures)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.policy.max_keys:
            self._entries.popitem(last=False)

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.last_failure > self.policy.forget_seconds:
            del self._entries[key]
            return None
        return entry


class LoginThrottle:
    """Per-user and per-address login throttling; thread-safe, in memory (one server)."""

    def __init__(
        self,
        user_policy: ThrottlePolicy = USER_POLICY,
        address_policy: ThrottlePolicy = ADDRESS_POLICY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = _Counter(user_policy, clock)
        self._addresses = _Counter(address_policy, clock)
        self._lock = threading.Lock()

    def check(self, user: str, address: str) -> None:
        """Raise TooManyRequestsError while the user name or the address is locked."""
        with self._lock:
            wait = max(self._users.wait_seconds(user), self._addresses.wait_seconds(address))
        if wait > 0:
            raise TooManyRequestsError(
                "too many failed logins; try again later",
                retry_after=math.ceil(wait),
                hint=f"wait {math.ceil(wait)} s; each further failure doubles the wait",
            )

    def failed(self, user: str, address: str) -> None:
        with self._lock:
            self._users.fail(user)
            self._addresses.fail(address)

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._users.clear(user)
            self._addresses.clear(address)
