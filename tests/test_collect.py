"""From real SDK MetricsData to counts: instruments, attributes, temporality, windows."""

from __future__ import annotations

from opentelemetry.sdk.metrics import Counter, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from otel_camunda_telemetry._collect import CumulativeTracker, extract


def collect_counts(reader: InMemoryMetricReader, tracker: CumulativeTracker) -> dict[str, int]:
    data = reader.get_metrics_data()
    assert data is not None
    return extract(data, not_before_ns=0, tracker=tracker, previous_ns=0).counts.commands


def test_cumulative_series_that_fold_into_one_command_keep_their_own_baseline() -> None:
    # A reader that insists on CUMULATIVE: deltas are computed per series, not per command.
    reader = InMemoryMetricReader(
        preferred_temporality={Counter: AggregationTemporality.CUMULATIVE}
    )
    provider = MeterProvider(metric_readers=[reader])
    counter = provider.get_meter("m").create_counter("camunda.commands")
    tracker = CumulativeTracker()
    counter.add(10, {"command": "A", "tenant": "x"})
    counter.add(1, {"command": "A", "tenant": "y"})
    assert collect_counts(reader, tracker) == {"A": 11}
    counter.add(2, {"command": "A", "tenant": "x"})
    counter.add(3, {"command": "A", "tenant": "y"})
    assert collect_counts(reader, tracker) == {"A": 5}
    provider.shutdown()


def test_only_the_reports_instruments_count_and_names_match_in_any_case() -> None:
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("m")
    meter.create_counter("Camunda.Commands").add(2, {"command": "A"})
    meter.create_counter("camunda.commands.other").add(5, {"command": "A"})
    meter.create_counter("camunda.commands").add(7)  # no command attribute: ignored
    meter.create_up_down_counter("camunda.root-process-instance-start").add(9)
    data = reader.get_metrics_data()
    assert data is not None
    counts = extract(data, not_before_ns=0, tracker=CumulativeTracker(), previous_ns=0).counts
    assert counts.commands == {"A": 2}
    assert counts.metrics == {}  # an UpDownCounter is not a monotonic counter
    provider.shutdown()
    assert UpDownCounter  # imported for the record: non-monotonic instruments never count
