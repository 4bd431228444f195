"""Hot-path cases: the cost of counting one command, single-threaded and with 4 threads.

Every case is a statement compiled into ``timeit``'s loop (so no extra Python call wraps
it) and timed with ``time.perf_counter_ns``; a case reports the median of its repeats.
"""

from __future__ import annotations

import statistics
import threading
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from opentelemetry.sdk.metrics import Counter, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from otel_camunda_telemetry._fast_counter import FastCounter

COMMAND = "StartProcessInstanceCmd"
THREADS = 4


@dataclass(frozen=True)
class Case:
    """A statement to time, in a namespace built by ``setup``."""

    name: str
    stmt: str


CASES = [
    Case("dict_increment", "counts[COMMAND] = counts.get(COMMAND, 0) + 1"),
    Case("locked_dict_increment", "with lock: counts[COMMAND] = counts.get(COMMAND, 0) + 1"),
    Case("prometheus_child_inc", "child.inc()"),
    Case("prometheus_labels_inc", "prom.labels(COMMAND).inc()"),
    Case("otel_counter_add", "otel.add(1, attributes)"),
    Case("fast_counter_inc", "fast.inc(COMMAND)"),
    Case("fast_counter_bound_inc", "bound.inc()"),
]

THREADED = [
    "prometheus_child_inc",
    "otel_counter_add",
    "fast_counter_inc",
    "fast_counter_bound_inc",
]


def namespace() -> tuple[dict[str, Any], Callable[[], None]]:
    """Fresh instruments for one case (and a function that releases them)."""
    delta: dict[type, AggregationTemporality] = {
        Counter: AggregationTemporality.DELTA,
        ObservableCounter: AggregationTemporality.DELTA,
    }
    # A DELTA reader, as the Camunda exporter prefers (the SDK's slowest counter path).
    reader = InMemoryMetricReader(preferred_temporality=delta)
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("bench")
    fast = FastCounter(meter)
    prom = PromCounter("commands", "Commands", ["command"], registry=CollectorRegistry())
    ns: dict[str, Any] = {
        "COMMAND": COMMAND,
        "counts": {},
        "lock": threading.Lock(),
        "prom": prom,
        "child": prom.labels(COMMAND),
        "otel": meter.create_counter("camunda.commands"),
        "attributes": {"command": COMMAND},
        "fast": fast,
        "bound": fast.bind(COMMAND),
    }
    return ns, lambda: provider.shutdown()


def calibrate(timer: timeit.Timer, budget_ns: int) -> int:
    """Loop count so that one repeat takes about ``budget_ns``."""
    number = 1000
    while True:
        took = timer.timeit(number)
        if took >= budget_ns // 10 or number >= 10_000_000:
            return max(1000, int(number * budget_ns / max(took, 1)))
        number *= 10


def single(case: Case, repeats: int, budget_ns: int) -> float:
    """Median ns per operation of ``case`` on one thread."""
    ns, close = namespace()
    try:
        timer = timeit.Timer(case.stmt, globals=ns, timer=perf_counter_ns)
        number = calibrate(timer, budget_ns)
        return statistics.median(t / number for t in timer.repeat(repeats, number))
    finally:
        close()


def threaded(case: Case, repeats: int, budget_ns: int, threads: int = THREADS) -> float:
    """Median ns of wall time per operation with ``threads`` threads sharing one instrument."""
    ns, close = namespace()
    try:
        timer = timeit.Timer(case.stmt, globals=ns, timer=perf_counter_ns)
        # The same total work as the single-threaded case, split between the threads.
        number = max(1000, calibrate(timer, budget_ns) // threads)
        results = []
        for _ in range(repeats):
            start = threading.Barrier(threads + 1)

            def work(start: threading.Barrier = start) -> None:
                start.wait()
                timer.timeit(number)

            workers = [threading.Thread(target=work) for _ in range(threads)]
            for w in workers:
                w.start()
            start.wait()
            t0 = perf_counter_ns()
            for w in workers:
                w.join()
            results.append((perf_counter_ns() - t0) / (number * threads))
        return statistics.median(results)
    finally:
        close()


def run(repeats: int, budget_ns: int) -> dict[str, float]:
    """Every hot-path case, ``{name: ns_per_op}``."""
    out: dict[str, float] = {}
    by_name = {c.name: c for c in CASES}
    for case in CASES:
        out[case.name] = single(case, repeats, budget_ns)
    for name in THREADED:
        out[f"{name}_{THREADS}threads"] = threaded(by_name[name], repeats, budget_ns)
    return out
