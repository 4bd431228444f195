"""Per-client token buckets: a burst is allowed, a sustained flood is answered with 429."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimiter"]

# Above this many tracked clients, buckets that have refilled completely are forgotten
# (they are indistinguishable from new ones), which bounds memory under address churn.
_PRUNE_ABOVE = 10_000


@dataclass(frozen=True)
class RateLimit:
    """How many requests one client (one hashed IP) may make.

    Attributes:
        requests: Requests allowed per ``per_seconds`` on average.
        per_seconds: The averaging window.
        burst: Requests allowed back to back; defaults to ``requests``.

    Example:
        >>> RateLimit(requests=60, per_seconds=60).rate
        1.0
    """

    requests: int = 60
    per_seconds: float = 60.0
    burst: int | None = None

    def __post_init__(self) -> None:
        if (
            self.requests < 1
            or self.per_seconds <= 0
            or (self.burst is not None and self.burst < 1)
        ):
            raise ValueError(f"invalid rate limit {self!r}")

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.requests / self.per_seconds

    @property
    def capacity(self) -> int:
        """Bucket size."""
        return self.burst if self.burst is not None else self.requests


class RateLimiter:
    """Thread-safe token buckets keyed by an opaque client key (the hashed IP).

    Example:
        >>> limiter = RateLimiter(RateLimit(requests=1, per_seconds=10), clock=lambda: 0.0)
        >>> limiter.acquire("a"), limiter.acquire("a"), limiter.acquire("b")
        (0, 10, 0)
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def acquire(self, key: str) -> int:
        """Take one token for ``key``.

        Returns:
            0 when the request may proceed, else the whole seconds to wait (``Retry-After``).
        """
        now = self._clock()
        capacity = float(self.limit.capacity)
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * self.limit.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > _PRUNE_ABOVE:
                    self._prune(now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.limit.rate))

    def _prune(self, now: float) -> None:
        capacity = float(self.limit.capacity)
        full = [
            key
            for key, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.limit.rate >= capacity
        ]
        for key in full:
            del self._buckets[key]
