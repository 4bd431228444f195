"""Delivering one frozen report: a few attempts with backoff, then wait for the next cycle.

Within a cycle: exponential backoff with jitter, at least what ``Retry-After`` asks, never
past the cycle's deadline, and every wait is on the stop event so shutdown cuts it short.
Between cycles the delay grows (no hot loop against a dead endpoint).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._transport import SendResult, Transport

#: First in-cycle backoff (seconds); attempt n waits about base * 2**n, jittered.
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
#: First delay between failed cycles, doubling up to the maximum.
CYCLE_BASE = 60.0
CYCLE_MAX = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``retries`` are attempts after the first, per cycle."""

    retries: int = 2
    backoff_base: float = BACKOFF_BASE
    backoff_max: float = BACKOFF_MAX
    cycle_base: float = CYCLE_BASE
    cycle_max: float = CYCLE_MAX

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before in-cycle retry number ``attempt`` (0-based): full jitter on 2**n."""
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))

    def next_cycle(
        self, failed_cycles: int, retry_after: float | None, rng: random.Random
    ) -> float:
        """Delay before the next cycle after ``failed_cycles`` failed ones (1-based)."""
        ceiling = min(self.cycle_max, self.cycle_base * 2 ** max(failed_cycles - 1, 0))
        delay = ceiling * rng.uniform(0.8, 1.0)
        return float(max(delay, retry_after or 0.0))


def deliver(
    transport: Transport,
    body: bytes,
    idempotency_key: str,
    *,
    policy: RetryPolicy,
    request_timeout: float,
    deadline: float,
    clock: Callable[[], float],
    stop: threading.Event,
    rng: random.Random,
    on_attempt: Callable[[int, SendResult], None] | None = None,
) -> SendResult:
    """Try to deliver one report; the last result says how it ended.

    ``deadline`` is on the ``clock``; no request starts after it and none lasts past it.
    """
    result = SendResult("skipped", "not attempted: no time left")
    for attempt in range(policy.retries + 1):
        remaining = deadline - clock()
        if remaining <= 0.05:
            break
        try:
            result = transport.send(
                body, idempotency_key=idempotency_key, timeout=min(request_timeout, remaining)
            )
        except Exception as exc:  # a transport must not raise; if one does, it is a failure
            result = SendResult("retry", f"transport error: {type(exc).__name__}: {exc}")
        if on_attempt is not None:
            on_attempt(attempt, result)
        if result.outcome != "retry" or attempt == policy.retries:
            break
        delay = max(policy.backoff(attempt, rng), result.retry_after or 0.0)
        if clock() + delay >= deadline:
            break
        if stop.wait(delay):
            break
    return result
