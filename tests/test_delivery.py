"""The retry policy: in-cycle backoff with jitter, Retry-After, deadline, growing cycles.

A scripted transport and an injected clock: each "wait" advances the clock instead of
sleeping, so the schedule is checked exactly and the tests take no time.
"""

from __future__ import annotations

import random
import threading

from otel_camunda_telemetry._delivery import RetryPolicy, deliver
from otel_camunda_telemetry._transport import SendResult, parse_retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStop(threading.Event):
    """A stop event whose ``wait`` advances the injected clock instead of sleeping."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        return self.is_set()


class Scripted:
    """A transport answering from a list; records the keys and times it was called at."""

    def __init__(self, clock: Clock, results: list[SendResult]) -> None:
        self.clock = clock
        self.results = results
        self.calls: list[tuple[float, str, float]] = []

    def send(self, body: bytes, *, idempotency_key: str, timeout: float) -> SendResult:
        self.calls.append((self.clock.now, idempotency_key, timeout))
        return self.results.pop(0)

    def close(self) -> None:
        pass


RETRY = SendResult("retry", "HTTP 503", 503)
OK = SendResult("ok", "HTTP 202", 202)


def run(
    results: list[SendResult], policy: RetryPolicy, deadline: float = 1e9
) -> tuple[SendResult, Scripted, FakeStop]:
    clock = Clock()
    stop = FakeStop(clock)
    transport = Scripted(clock, results)
    result = deliver(
        transport,
        b"{}",
        "key-1",
        policy=policy,
        request_timeout=5.0,
        deadline=clock.now + deadline,
        clock=clock,
        stop=stop,
        rng=random.Random(7),
    )
    return result, transport, stop


def test_retries_then_succeeds_with_the_same_key() -> None:
    result, transport, stop = run([RETRY, RETRY, OK], RetryPolicy(retries=2))
    assert result.outcome == "ok"
    assert [key for _, key, _ in transport.calls] == ["key-1"] * 3
    assert len(stop.waits) == 2


def test_attempts_per_cycle_are_bounded_by_retries() -> None:
    result, transport, _ = run([RETRY] * 10, RetryPolicy(retries=3))
    assert result.outcome == "retry"
    assert len(transport.calls) == 4  # the first attempt and 3 retries


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    policy = RetryPolicy(retries=6, backoff_base=1.0, backoff_max=8.0)
    rng = random.Random(1)
    for attempt in range(6):
        ceiling = min(8.0, 2.0**attempt)
        delays = {policy.backoff(attempt, rng) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered, not one fixed value


def test_retry_after_is_a_floor_for_the_next_attempt() -> None:
    throttled = SendResult("retry", "HTTP 429", 429, retry_after=12.0)
    _, transport, stop = run([throttled, OK], RetryPolicy(retries=2, backoff_base=0.1))
    assert stop.waits == [12.0]
    assert transport.calls[1][0] - transport.calls[0][0] >= 12.0


def test_no_attempt_starts_after_the_deadline() -> None:
    throttled = SendResult("retry", "HTTP 429", 429, retry_after=100.0)
    result, transport, stop = run([throttled, OK], RetryPolicy(retries=2), deadline=30.0)
    assert result.outcome == "retry"
    assert len(transport.calls) == 1 and stop.waits == []
    # and no request lasts past it
    _, transport, _ = run([OK], RetryPolicy(), deadline=2.0)
    assert transport.calls[0][2] <= 2.0


def test_drop_is_not_retried() -> None:
    refused = SendResult("drop", "HTTP 400", 400)
    result, transport, _ = run([refused, OK], RetryPolicy(retries=5))
    assert result.outcome == "drop" and len(transport.calls) == 1


def test_stop_cuts_the_wait_short() -> None:
    clock = Clock()
    stop = FakeStop(clock)
    stop.set()
    transport = Scripted(clock, [RETRY, OK])
    result = deliver(
        transport,
        b"{}",
        "k",
        policy=RetryPolicy(retries=3),
        request_timeout=5.0,
        deadline=clock.now + 1000,
        clock=clock,
        stop=stop,
        rng=random.Random(0),
    )
    assert result.outcome == "retry" and len(transport.calls) == 1


def test_cycle_delay_grows_to_its_maximum_and_honours_retry_after() -> None:
    policy = RetryPolicy(cycle_base=60.0, cycle_max=3600.0)
    rng = random.Random(3)
    delays = [policy.next_cycle(n, None, rng) for n in range(1, 10)]
    ceilings = [min(3600.0, 60.0 * 2 ** (n - 1)) for n in range(1, 10)]
    assert all(0.8 * c <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert delays[-1] >= 0.8 * 3600.0
    assert policy.next_cycle(1, 7200.0, rng) == 7200.0


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 5 ") == 5.0
    now = 1_700_000_000.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now=now) == 20.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
