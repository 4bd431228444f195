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
    "dict_increment",
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


class Timed:
    """One case, calibrated once and then timed repeatedly (``threads`` > 1: at once)."""

    def __init__(self, case: Case, budget_ns: int, threads: int = 1) -> None:
        self.name = case.name if threads == 1 else f"{case.name}_{threads}threads"
        ns, self.close = namespace()
        self.timer = timeit.Timer(case.stmt, globals=ns, timer=perf_counter_ns)
        self.threads = threads
        # The same total work whatever the thread count, split between the threads.
        self.number = max(1000, calibrate(self.timer, budget_ns) // threads)

    def once(self) -> float:
        """ns per operation of one repeat (of wall time, all threads together)."""
        if self.threads == 1:
            return self.timer.timeit(self.number) / self.number
        start = threading.Barrier(self.threads + 1)

        def work() -> None:
            start.wait()
            self.timer.timeit(self.number)

        workers = [threading.Thread(target=work) for _ in range(self.threads)]
        for w in workers:
            w.start()
        start.wait()
        t0 = perf_counter_ns()
        for w in workers:
            w.join()
        return (perf_counter_ns() - t0) / (self.number * self.threads)


def run(repeats: int, budget_ns: int) -> dict[str, float]:
    """Every hot-path case, ``{name: median ns_per_op}``.

    The repeats are interleaved (case A, B, C, ..., then A, B, C again) so that a burst of
    load from elsewhere on the machine lands on every case, not on one.
    """
    by_name = {c.name: c for c in CASES}
    timed = [Timed(c, budget_ns) for c in CASES]
    timed += [Timed(by_name[name], budget_ns, THREADS) for name in THREADED]
    samples: dict[str, list[float]] = {t.name: [] for t in timed}
    try:
        for _ in range(repeats):
            for t in timed:
                samples[t.name].append(t.once())
    finally:
        for t in timed:
            t.close()
    return {name: statistics.median(values) for name, values in samples.items()}
