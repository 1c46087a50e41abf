"""Retry policy arithmetic, as KFP's `retryPolicy` (set_retry) describes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def max_attempts(policy: Mapping[str, Any]) -> int:
    return 1 + int(policy.get("maxRetryCount", 0) or 0)


def backoff_seconds(policy: Mapping[str, Any], failed_attempts: int) -> float:
    """Delay before the next attempt: duration * factor^(n-1), capped at the max duration."""
    base = _duration(policy.get("backoffDuration", "0s"))
    factor = float(policy.get("backoffFactor", 2.0) or 2.0)
    cap = _duration(policy.get("backoffMaxDuration", "3600s"))
    return float(min(base * factor ** max(0, failed_attempts - 1), cap))


def _duration(text: Any) -> float:
    value = str(text).strip()
    if value.endswith("s"):
        value = value[:-1]
    try:
        return float(value)
    except ValueError:
        return 0.0
