"""``otel-camunda-telemetry demo``: a simulated engine reporting to an embedded receiver.

Everything is real: the OTel SDK, the exporter, a SQLite state store, HTTP on 127.0.0.1 and
the receiver of the ``[receiver]`` extra. The 24 h period is compressed to seconds.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from ._config import Settings
from ._exporter import CamundaTelemetryExporter
from ._instruments import (
    ACTIVITY_INSTANCE_START,
    COMMAND_ATTRIBUTE,
    COMMANDS,
    EXECUTED_DECISION_ELEMENTS,
    EXECUTED_DECISION_INSTANCES,
    ROOT_PROCESS_INSTANCE_START,
)

_COMMANDS = ("StartProcessInstanceCmd", "FetchExternalTasksCmd", "CompleteTaskCmd")
_METRICS = (
    ROOT_PROCESS_INSTANCE_START,
    ACTIVITY_INSTANCE_START,
    EXECUTED_DECISION_INSTANCES,
    EXECUTED_DECISION_ELEMENTS,
)


def _engine(provider: MeterProvider, stop: threading.Event, recorded: dict[str, int]) -> None:
    """Count commands and metrics the way a process engine would."""
    meter = provider.get_meter("demo-engine")
    commands = meter.create_counter(COMMANDS)
    metrics = {name: meter.create_counter(name) for name in _METRICS}
    rng = random.Random(7)
    while not stop.wait(0.01):
        command = rng.choice(_COMMANDS)
        commands.add(1, {COMMAND_ATTRIBUTE: command})
        recorded[command] = recorded.get(command, 0) + 1
        for name in _METRICS:
            n = rng.randint(0, 3)
            metrics[name].add(n)
            recorded[name] = recorded.get(name, 0) + n


def _received_totals(reports: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for report in reports:
        internals = report["product"]["internals"]
        for section in ("commands", "metrics"):
            for name, value in internals.get(section, {}).items():
                key = name if section == "commands" else f"camunda.{name}"
                totals[key] = totals.get(key, 0) + value["count"]
    return totals


def run_demo(*, seconds: float = 12.0, period: float = 4.0, state: str | None = None) -> int:
    """Run the demo; print every report the receiver got; 0 when totals match."""
    if not Settings.resolve(state=state).reporter_activate:
        print(
            "telemetry is switched off in this environment (CAMUNDA_TELEMETRY_REPORTER_ACTIVATE"
            "=false, DO_NOT_TRACK or OTEL_SDK_DISABLED): the demo would have nothing to show"
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="otel-camunda-telemetry-demo-") as workdir:
        return _run(Path(workdir), seconds=seconds, period=period, state=state)


def _run(workdir: Path, *, seconds: float, period: float, state: str | None) -> int:
    try:
        from .receiver import RateLimit, ReceiverServer
    except ImportError as exc:
        print(
            f"the demo needs the [receiver] extra: pip install "
            f"'otel-camunda-telemetry[receiver]' ({exc})"
        )
        return 1
    state = state or str(workdir / "state.sqlite3")
    with ReceiverServer(
        db=workdir / "receiver.sqlite3", rate_limit=RateLimit(10_000, 60.0)
    ) as server:
        print(f"receiver on {server.url}; state {state}; period {period:g} s (24 h compressed)")
        exporter = CamundaTelemetryExporter(
            endpoint=server.url, state=state, initialize=True, reporting_period=period
        )
        provider = MeterProvider(
            resource=Resource.create(
                {
                    "camunda.product.name": "Demo Engine",
                    "camunda.product.version": "1.0.0",
                    "camunda.product.edition": "community",
                    "camunda.database.vendor": "sqlite",
                    "camunda.database.version": __import__("sqlite3").sqlite_version,
                    "camunda.webapps": "cockpit,admin",
                    "camunda.integrations": "demo",
                }
            ),
            metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=500)],
        )
        recorded: dict[str, int] = {}
        stop = threading.Event()
        engine = threading.Thread(target=_engine, args=(provider, stop, recorded), daemon=True)
        engine.start()
        shown = 0
        started = time.monotonic()

        def show_new() -> None:
            nonlocal shown
            reports = server.reports()
            for report in reports[shown:]:
                internals = report["product"]["internals"]
                kind = "initial" if "telemetry-enabled" in internals else "full"
                print(f"\n--- report {shown + 1} ({kind}) at +{time.monotonic() - started:.1f} s")
                print(json.dumps(report, indent=2))
                shown += 1

        while time.monotonic() - started < seconds:
            time.sleep(0.25)
            show_new()
        stop.set()
        engine.join()
        print("\n--- engine stopped: shutting down (the shutdown report follows)")
        provider.shutdown()
        show_new()
        received = _received_totals(server.reports())
        ok = received == {k: v for k, v in recorded.items() if v}
        print(
            f"\nrecorded {sum(recorded.values())} counts, the receiver acknowledged "
            f"{sum(received.values())}: {'exact' if ok else 'MISMATCH'}"
        )
        return 0 if ok else 1
