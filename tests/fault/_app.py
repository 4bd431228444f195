"""An instrumented application the fault tests run as a subprocess, with the real library.

Usage: ``python _app.py '<json config>'``. The config names the exporter's settings and a
list of steps; every step prints one JSON line on stdout (``{"event": ..., "pid": ...}``),
so the test knows exactly what was recorded and when it was checkpointed. Library logs go
to stderr as ``LEVEL name: message``.

Steps:
    ["record", {"commands": {...}, "metrics": {...}}]  add to the counters
    ["flush"]               one real collection (export + checkpoint), synchronously
    ["sleep", seconds]
    ["until_idle", secs]    wait until the state holds no counts and no report
    ["fork", [steps...]]    os.fork(); the child runs these steps, shuts down and exits
    ["hold"]                print "holding" and wait to be killed
    ["exit_now"]            end here: atexit only, no explicit shutdown
Without ``exit_now`` the app calls ``provider.shutdown()`` at the end and times it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry import CamundaTelemetryExporter
from otel_camunda_telemetry._delivery import RetryPolicy
from otel_camunda_telemetry._state import open_store

PRODUCT = {
    "camunda.product.name": "Fault Engine",
    "camunda.product.version": "1.0.0",
    "camunda.product.edition": "community",
}
METRIC_INSTRUMENTS = {
    "root-process-instance-start": "camunda.root-process-instance-start",
    "activity-instance-start": "camunda.activity-instance-start",
    "executed-decision-instances": "camunda.executed-decision-instances",
    "executed-decision-elements": "camunda.executed-decision-elements",
}


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed at once (the test reads it while we run)."""
    sys.stdout.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")
    sys.stdout.flush()


class App:
    """MeterProvider + PeriodicExportingMetricReader(CamundaTelemetryExporter)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        policy = config.get("policy")
        self.exporter = CamundaTelemetryExporter(
            endpoint=config["endpoint"],
            state=config["state"],
            initialize=config.get("initialize", True),
            reporting_period=config.get("reporting_period", 1.0),
            request_timeout_millis=config.get("request_timeout_ms", 2000),
            request_retries=config.get("retries"),
            shutdown_timeout_millis=config.get("shutdown_timeout_ms", 2000),
            retry_policy=RetryPolicy(retries=config.get("retries", 2), **policy)
            if policy
            else None,
        )
        self.provider = MeterProvider(
            resource=Resource.create(PRODUCT),
            metric_readers=[
                PeriodicExportingMetricReader(
                    self.exporter, export_interval_millis=config.get("export_interval_ms", 150)
                )
            ],
        )
        meter = self.provider.get_meter("fault-app")
        self.commands = meter.create_counter("camunda.commands")
        self.metrics = {key: meter.create_counter(name) for key, name in METRIC_INSTRUMENTS.items()}

    def run(self, steps: list[Any], role: str) -> None:
        for step in steps:
            getattr(self, f"step_{step[0]}")(*step[1:], role=role)

    # -- steps ------------------------------------------------------------------------
    def step_record(self, counts: dict[str, dict[str, int]], *, role: str) -> None:
        for name, n in counts.get("commands", {}).items():
            for _ in range(n):  # one add per command execution, as an engine does
                self.commands.add(1, {"command": name})
        for key, n in counts.get("metrics", {}).items():
            self.metrics[key].add(n)
        emit("recorded", role=role, **counts)

    def step_flush(self, *, role: str) -> None:
        ok = self.provider.force_flush(30_000)
        emit("flushed", role=role, ok=ok)

    def step_sleep(self, seconds: float, *, role: str) -> None:
        time.sleep(seconds)

    def step_until_idle(self, timeout: float, *, role: str) -> None:
        store = open_store(self.config["state"])
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not store.outbox() and store.pending_counts().is_empty():
                    emit("idle", role=role)
                    return
                time.sleep(0.05)
            emit("not_idle", role=role, outbox=len(store.outbox()))
        finally:
            store.close()

    def step_fork(self, child_steps: list[Any], *, role: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:
            try:
                self.run(child_steps, role="child")
                self.provider.shutdown()
                emit("child_exit", role="child")
            finally:
                sys.stdout.flush()
                os._exit(0)
        emit("forked", role=role, child=pid)
        self.children.append(pid)

    def step_hold(self, *, role: str) -> None:
        emit("holding", role=role)
        while True:
            time.sleep(60)

    def step_exit_now(self, *, role: str) -> None:
        self.exit_now = True

    children: list[int] = []  # noqa: RUF012 (one App per process)
    exit_now = False


def main() -> None:
    config = json.loads(sys.argv[1])
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, config.get("log_level", "WARNING")),
        format="%(levelname)s %(name)s: [%(process)d] %(message)s",
    )
    app = App(config)
    emit("started")
    app.run(config.get("steps", []), role="parent")
    for child in app.children:
        os.waitpid(child, 0)
    if app.exit_now:
        emit("exiting", shutdown="atexit")  # the SDK's and the exporter's atexit hooks
        return
    emit("exiting", shutdown="explicit")
    started = time.monotonic()
    app.provider.shutdown()
    emit("shut_down", seconds=time.monotonic() - started)


if __name__ == "__main__":
    main()
