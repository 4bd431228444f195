"""The same application, with telemetry configured in code (a few lines of SDK setup)."""

from __future__ import annotations

import os

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry import CamundaTelemetryExporter

exporter = CamundaTelemetryExporter(
    endpoint=os.environ.get("CAMUNDA_TELEMETRY_ENDPOINT", "http://127.0.0.1:8080/pings"),
)
provider = MeterProvider(
    resource=Resource.create(
        {
            "camunda.product.name": "My Engine",
            "camunda.product.version": "1.0.0",
            "camunda.product.edition": "community",
            "camunda.webapps": "cockpit,admin",
        }
    ),
    metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=10_000)],
)
metrics.set_meter_provider(provider)

if __name__ == "__main__":
    import app

    app.run(int(os.environ.get("APP_ITERATIONS", "10")))
    provider.shutdown()  # sends the shutdown report (also done at exit)
