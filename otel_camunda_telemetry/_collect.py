"""From the SDK's ``MetricsData`` to :class:`Counts`: which instruments count, and how."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricsData, Sum
from opentelemetry.sdk.resources import Resource

from ._counts import Counts
from ._instruments import (
    COMMAND_ATTRIBUTE,
    COMMANDS,
    METRIC_KEYS,
    OVERFLOW_COMMAND,
    SDK_OVERFLOW_ATTRIBUTE,
)

_METRICS = {name.lower(): key for name, key in METRIC_KEYS.items()}


@dataclass
class Batch:
    """The counts of one collection and the earliest start of the windows they cover."""

    counts: Counts = field(default_factory=Counts)
    window_start: float | None = None
    resource: Resource | None = None


@dataclass
class CumulativeTracker:
    """Turns cumulative points into deltas, for a reader that insists on CUMULATIVE."""

    last: dict[Hashable, int] = field(default_factory=dict)

    def delta(self, key: Hashable, value: int) -> int:
        previous = self.last.get(key, 0)
        self.last[key] = value
        return value - previous if value >= previous else value


def extract(
    data: MetricsData, *, not_before_ns: int, tracker: CumulativeTracker, previous_ns: int
) -> Batch:
    """Sum the report's instruments in ``data``; ignore every other instrument.

    Points whose window started before ``not_before_ns`` (a fork) are skipped: their counts
    were recorded before this process existed and belong to the parent.
    """
    batch = Batch()
    start_ns: int | None = None
    for resource_metrics in data.resource_metrics:
        batch.resource = resource_metrics.resource
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                name = metric.name.lower()
                is_command = name == COMMANDS
                metric_key = _METRICS.get(name)
                if not (is_command or metric_key) or not isinstance(metric.data, Sum):
                    continue
                if not metric.data.is_monotonic:
                    continue
                cumulative = (
                    metric.data.aggregation_temporality == AggregationTemporality.CUMULATIVE
                )
                for point in metric.data.data_points:
                    window_ns = previous_ns if cumulative else point.start_time_unix_nano
                    if window_ns < not_before_ns:
                        continue
                    value = int(point.value)
                    attributes = point.attributes or {}
                    command: str | None = None
                    if is_command:
                        if attributes.get(SDK_OVERFLOW_ATTRIBUTE):
                            command = OVERFLOW_COMMAND
                        else:
                            raw = attributes.get(COMMAND_ATTRIBUTE)
                            if raw is None or str(raw) == "":
                                continue
                            command = str(raw)
                    if cumulative:
                        # One series per scope, instrument and attribute set: two series
                        # folding into one command must not share a baseline.
                        series = (scope.scope.name, name, frozenset(attributes.items()))
                        value = tracker.delta(series, value)
                    if value <= 0:
                        continue
                    start_ns = window_ns if start_ns is None else min(start_ns, window_ns)
                    if command is not None:
                        commands = batch.counts.commands
                        commands[command] = commands.get(command, 0) + value
                    else:
                        assert metric_key is not None
                        metrics = batch.counts.metrics
                        metrics[metric_key] = metrics.get(metric_key, 0) + value
    if start_ns is not None:
        batch.window_start = start_ns / 1e9
    return batch
