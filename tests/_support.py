"""Test helpers shared by the core tests (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry import CamundaTelemetryExporter

PRODUCT = {
    "camunda.product.name": "Test Engine",
    "camunda.product.version": "1.2.3",
    "camunda.product.edition": "community",
}


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy (generous: the CI machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class App:
    """An instrumented application: MeterProvider + telemetry exporter + counters."""

    def __init__(self, exporter: CamundaTelemetryExporter, attributes: dict[str, Any]) -> None:
        self.exporter = exporter
        self.provider = MeterProvider(
            resource=Resource.create(attributes),
            metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=100)],
        )
        meter = self.provider.get_meter("test-app")
        self.commands = meter.create_counter("camunda.commands")
        self.root = meter.create_counter("camunda.root-process-instance-start")

    def command(self, name: str, n: int = 1) -> None:
        self.commands.add(n, {"command": name})

    def shutdown(self) -> None:
        self.provider.shutdown()
