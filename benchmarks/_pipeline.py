"""Collection-time cases: the SDK's bare ``collect()``, the exporter's ``export()`` plus its
checkpoint into a real SQLite state, and the report build, at N distinct commands."""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter_ns

from opentelemetry.sdk.metrics import Counter, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry import COMMANDS, CamundaTelemetryExporter
from otel_camunda_telemetry._fast_counter import FastCounter

SIZES = (1, 100, 2000, 10_000)

_DELTA: dict[type, AggregationTemporality] = {
    Counter: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
}
_RESOURCE = Resource.create(
    {"camunda.product.name": "Benchmark Engine", "camunda.product.version": "1.0.0"}
)


def _provider(n: int) -> tuple[MeterProvider, InMemoryMetricReader]:
    # The SDK folds attribute sets past 2000 per instrument into one overflow point: a View
    # raises the limit so that every command is its own point at 10,000 too.
    view = View(instrument_name=COMMANDS, aggregation_cardinality_limit=max(2 * n, 2000))
    reader = InMemoryMetricReader(preferred_temporality=_DELTA)
    return MeterProvider(resource=_RESOURCE, metric_readers=[reader], views=[view]), reader


def _timed(fn: Callable[[], object]) -> tuple[int, object]:
    t0 = perf_counter_ns()
    result = fn()
    return perf_counter_ns() - t0, result


def collection(n: int, repeats: int) -> dict[str, float]:
    """Median ns of one collection, export and report build with ``n`` distinct commands."""
    commands = [f"Command{i:05d}Cmd" for i in range(n)]
    attributes = [{"command": c} for c in commands]
    provider, reader = _provider(n)
    counter = provider.get_meter("bench").create_counter(COMMANDS)
    with tempfile.TemporaryDirectory() as tmp:
        exporter = CamundaTelemetryExporter(
            endpoint=None,  # nothing leaves the machine: this measures the local work
            state=str(Path(tmp) / "state.sqlite"),
            initialize=True,
            max_commands=2 * n + 10,  # report every command: the worst case
            resource=_RESOURCE,
        )
        control = exporter.control
        bare, export, build = [], [], []
        try:
            for _ in range(repeats + 1):  # the first round warms the store and the SDK
                for a in attributes:
                    counter.add(1, a)
                t_collect, data = _timed(reader.get_metrics_data)
                # export() buffers in memory; force_flush() is the checkpoint into SQLite
                # that the reporter thread does right after: time both, as one.
                t_export, _ = _timed(
                    lambda d=data: (exporter.export(d), exporter.force_flush())  # type: ignore[misc]
                )
                t_build, body = _timed(lambda: json.dumps(control.preview()))
                bare.append(t_collect)
                export.append(t_export)
                build.append(t_build)
            report = json.loads(str(body))
            reported = len(report["product"]["internals"].get("commands", {}))
            if reported != n:
                raise RuntimeError(f"the report holds {reported} commands, not {n}")
        finally:
            control.close()
            exporter.shutdown(timeout_millis=1000)
            provider.shutdown()
    bare, export, build = bare[1:], export[1:], build[1:]
    return {
        f"collect_sdk_{n}": statistics.median(bare),
        f"export_{n}": statistics.median(export),
        f"report_build_{n}": statistics.median(build),
        f"collect_export_report_{n}": statistics.median(
            b + e + r for b, e, r in zip(bare, export, build, strict=True)
        ),
    }


def fast_collection(n: int, repeats: int) -> dict[str, float]:
    """Median ns of one SDK collection of a :class:`FastCounter` holding ``n`` commands."""
    provider, reader = _provider(n)
    fast = FastCounter(provider.get_meter("bench"))
    commands = [f"Command{i:05d}Cmd" for i in range(n)]
    times = []
    try:
        for _ in range(repeats + 1):
            for c in commands:
                fast.inc(c)
            times.append(_timed(reader.get_metrics_data)[0])
    finally:
        provider.shutdown()
    return {f"collect_fast_counter_{n}": statistics.median(times[1:])}


def run(repeats: int) -> dict[str, float]:
    """Every collection case, ``{name: ns}`` (per collection, not per command)."""
    # The exporter warns once that no endpoint is set: expected here, not worth printing.
    logging.getLogger("otel_camunda_telemetry").setLevel(logging.ERROR)
    out: dict[str, float] = {}
    for n in SIZES:
        out.update(collection(n, repeats))
        out.update(fast_collection(n, repeats))
    return out
