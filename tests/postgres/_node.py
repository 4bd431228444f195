"""One node of a test cluster: an application process with the real exporter.

Run as a subprocess by the cluster tests. It builds a ``MeterProvider`` with a
``PeriodicExportingMetricReader`` around ``CamundaTelemetryExporter`` (state in PostgreSQL),
then obeys JSON commands, one per line on stdin, answering each with one JSON line on stdout:

- ``{"cmd": "status"}``: the installation as this node sees it.
- ``{"cmd": "record", "commands": {...}, "metrics": {...}}``: count exactly that much.
- ``{"cmd": "load", "on": true}``: start (or stop) counting continuously on a thread.
- ``{"cmd": "flush"}``: a collection now (``force_flush``).
- ``{"cmd": "enable"}`` / ``{"cmd": "disable"}``: the toggle, from this node.
- ``{"cmd": "stop"}``: stop counting, shut the provider down (final report), answer with
  everything this node recorded, and exit.

Whatever the node counts it also tallies itself: that tally is the truth the receiver's
acknowledged totals are checked against.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry._exporter import CamundaTelemetryExporter

COMMANDS = ("StartProcessInstanceCmd", "CompleteTaskCmd", "FetchExternalTasksCmd")
METRICS = {
    "root-process-instance-start": "camunda.root-process-instance-start",
    "activity-instance-start": "camunda.activity-instance-start",
    "executed-decision-instances": "camunda.executed-decision-instances",
    "executed-decision-elements": "camunda.executed-decision-elements",
}


class Node:
    def __init__(self, args: argparse.Namespace) -> None:
        self.exporter = CamundaTelemetryExporter(
            endpoint=args.endpoint,
            state=args.state,
            initialize=args.initialize,
            reporting_period=args.period,
            request_timeout_millis=10_000,
            shutdown_timeout_millis=20_000,
        )
        self.reader = PeriodicExportingMetricReader(
            self.exporter, export_interval_millis=args.interval_ms
        )
        self.provider = MeterProvider(
            resource=Resource.create(
                {
                    "camunda.product.name": "Cluster Test Engine",
                    "camunda.product.version": "7.99.0",
                    "camunda.product.edition": "community",
                }
            ),
            metric_readers=[self.reader],
        )
        meter = self.provider.get_meter("cluster-test")
        self.commands = meter.create_counter("camunda.commands")
        self.metrics = {key: meter.create_counter(name) for key, name in METRICS.items()}
        self.tally: dict[str, dict[str, int]] = {"commands": {}, "metrics": {}}
        self.tally_lock = threading.Lock()
        self.load_stop = threading.Event()
        self.load_thread: threading.Thread | None = None

    def record(self, commands: dict[str, int], metrics: dict[str, int]) -> None:
        # Tally and record under one lock, so that the tally never runs ahead of the SDK.
        with self.tally_lock:
            for name, n in commands.items():
                self.commands.add(n, {"command": name})
                self.tally["commands"][name] = self.tally["commands"].get(name, 0) + n
            for key, n in metrics.items():
                self.metrics[key].add(n)
                self.tally["metrics"][key] = self.tally["metrics"].get(key, 0) + n

    def _load(self) -> None:
        rng = random.Random()
        while not self.load_stop.wait(0.005):
            self.record(
                {rng.choice(COMMANDS): rng.randint(1, 3)},
                {rng.choice(list(METRICS)): rng.randint(1, 5)},
            )

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        cmd = message["cmd"]
        if cmd == "status":
            return {"status": self.exporter.control.status().to_json()}
        if cmd == "record":
            self.record(message.get("commands", {}), message.get("metrics", {}))
            return {}
        if cmd == "load":
            if message["on"] and self.load_thread is None:
                self.load_stop.clear()
                self.load_thread = threading.Thread(target=self._load, daemon=True)
                self.load_thread.start()
            elif not message["on"]:
                self._stop_load()
            return {}
        if cmd == "flush":
            return {"flushed": self.provider.force_flush(30_000)}
        if cmd in ("enable", "disable"):
            return {"status": self.exporter.control.toggle(cmd == "enable").to_json()}
        if cmd == "stop":
            self._stop_load()
            started = time.monotonic()
            self.provider.shutdown()
            return {"tally": self.tally, "shutdown_seconds": time.monotonic() - started}
        raise ValueError(f"unknown command {cmd!r}")

    def _stop_load(self) -> None:
        if self.load_thread is not None:
            self.load_stop.set()
            self.load_thread.join()
            self.load_thread = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--period", type=float, required=True)
    parser.add_argument("--interval-ms", type=int, default=200)
    parser.add_argument("--initialize", action="store_true")
    parser.add_argument("--start-at", type=float, default=0.0, help="wall clock to start at")
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s"
    )
    # All nodes build their exporter at the same moment: a concurrent first start.
    time.sleep(max(0.0, args.start_at - time.time()))
    node = Node(args)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        try:
            reply = node.handle(message)
        except Exception as exc:  # report, keep serving: the test decides what it means
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
        if message["cmd"] == "stop":
            return


if __name__ == "__main__":
    main()
