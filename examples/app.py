"""An application instrumented with the OpenTelemetry API only.

Run it configured in code:      python examples/configured_in_code.py
or with zero code (no telemetry import anywhere in the app):
    OTEL_METRICS_EXPORTER=camunda_telemetry OTEL_TRACES_EXPORTER=none OTEL_LOGS_EXPORTER=none \\
    OTEL_RESOURCE_ATTRIBUTES="camunda.product.name=My Engine,camunda.product.version=1.0.0" \\
    CAMUNDA_TELEMETRY_ENDPOINT=http://127.0.0.1:8080/pings \\
    opentelemetry-instrument python examples/app.py
"""

from __future__ import annotations

import os
import time

from opentelemetry import metrics

meter = metrics.get_meter("my-engine")
commands = meter.create_counter("camunda.commands", description="executed engine commands")
root_starts = meter.create_counter("camunda.root-process-instance-start")


def run(iterations: int) -> None:
    for _ in range(iterations):
        commands.add(1, {"command": "StartProcessInstanceCmd"})
        root_starts.add(1)
    commands.add(iterations, {"command": "FetchExternalTasksCmd"})


if __name__ == "__main__":
    run(int(os.environ.get("APP_ITERATIONS", "10")))
    time.sleep(float(os.environ.get("APP_LINGER", "0")))
    print("app done", flush=True)
