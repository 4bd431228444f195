"""A tiny application for the exit-delay case (run by ``_process.py`` as a subprocess).

It sets up OpenTelemetry as an application would (the Camunda exporter configured from the
``CAMUNDA_TELEMETRY_*`` environment, unless ``BENCH_TELEMETRY=0``), counts a command, waits
until the reporter is stuck on the hanging endpoint, prints its monotonic clock ("shutdown
requested") and returns: the interpreter's exit (the SDK's atexit shutdown) does the rest,
after which it prints its clock again.
"""

from __future__ import annotations

import atexit
import os
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource


def main() -> None:
    # Registered before the SDK's and the exporter's handlers, so it runs after them (LIFO):
    # the time it prints is when telemetry's part of the shutdown has finished.
    atexit.register(lambda: print(time.monotonic(), flush=True))
    readers: list[MetricReader] = []
    if os.environ.get("BENCH_TELEMETRY") == "1":
        from otel_camunda_telemetry import CamundaTelemetryExporter

        readers.append(
            PeriodicExportingMetricReader(CamundaTelemetryExporter(), export_interval_millis=60_000)
        )
    resource = Resource.create(
        {"camunda.product.name": "Exit Delay App", "camunda.product.version": "1.0.0"}
    )
    provider = MeterProvider(resource=resource, metric_readers=readers)
    counter = provider.get_meter("app").create_counter("camunda.commands")
    counter.add(1, {"command": "StartProcessInstanceCmd"})
    # Give the reporter thread time to connect and hang on the initial report.
    time.sleep(0.5)
    print(time.monotonic(), flush=True)


if __name__ == "__main__":
    main()
