"""OTLP side-export against real receivers on 127.0.0.1:0 that decode the protobuf they get,
while the telemetry exporter on the same MeterProvider checkpoints the same counts."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests._admin_support import in_ci, require

try:
    import opentelemetry.exporter.otlp.proto.http  # noqa: F401
except ImportError:
    if in_ci():
        raise
    pytest.skip("needs the [otlp] extra", allow_module_level=True)

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry import CamundaTelemetryExporter, Counts, TelemetryControl
from otel_camunda_telemetry._otlp import (
    configure_meter_provider,
    otlp_metric_exporter,
)

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0
CUMULATIVE, DELTA = 2, 1  # the proto's AggregationTemporality values


class OtlpHttpReceiver:
    """An OTLP/HTTP metrics endpoint: ``POST /v1/metrics``, protobuf decoded and kept."""

    def __init__(self) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                ok = self.path == "/v1/metrics" and self.headers.get_content_type() == (
                    "application/x-protobuf"
                )
                if ok:
                    request = ExportMetricsServiceRequest()
                    request.ParseFromString(body)
                    with receiver._lock:
                        receiver.requests.append(request)
                        receiver.paths.append(self.path)
                reply = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.server.block_on_close = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self._thread.join(DEADLINE)
        self.server.server_close()

    def sums(self, name: str) -> list[tuple[int, dict[str, str], int]]:
        """(temporality, attributes, value) of every data point of metric ``name``."""
        with self._lock:
            requests = list(self.requests)
        return _sums(requests, name)


def _sums(requests: list[Any], name: str) -> list[tuple[int, dict[str, str], int]]:
    points = []
    for request in requests:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for p in metric.sum.data_points:
                            attrs = {a.key: a.value.string_value for a in p.attributes}
                            points.append((metric.sum.aggregation_temporality, attrs, p.as_int))
    return points


def _resource_attributes(requests: list[Any]) -> dict[str, str]:
    return {
        a.key: a.value.string_value for a in requests[-1].resource_metrics[0].resource.attributes
    }


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _pending(state: str) -> Counts:
    control = TelemetryControl(state=state)
    try:
        return control.store.pending_counts()
    finally:
        control.close()


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpHttpReceiver]:
    receiver = OtlpHttpReceiver()
    yield receiver
    receiver.close()


RESOURCE = {"camunda.product.name": "Test Engine", "camunda.product.version": "1.2.3"}


def test_http_side_export_beside_telemetry(
    otlp_receiver: OtlpHttpReceiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The standard variable, as a user would set it (the exporter appends /v1/metrics).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.url)
    state = str(tmp_path / "state.sqlite3")
    telemetry = CamundaTelemetryExporter(state=state, initialize=True)
    provider = configure_meter_provider(
        resource=Resource.create(RESOURCE),
        telemetry=telemetry,
        export_interval_millis=3_600_000,  # collections happen on force_flush only
    )
    try:
        commands = provider.get_meter("app").create_counter("camunda.commands")
        commands.add(2, {"command": "StartProcessInstanceCmd"})
        assert provider.force_flush(30_000)
        commands.add(3, {"command": "StartProcessInstanceCmd"})
        commands.add(1, {"command": "FetchExternalTasksCmd"})
        assert provider.force_flush(30_000)
        # The telemetry side added its deltas up to the same totals (before shutdown freezes
        # them into a report).
        pending = _pending(state)
        assert pending.commands == {"StartProcessInstanceCmd": 5, "FetchExternalTasksCmd": 1}
    finally:
        provider.shutdown()
    points = otlp_receiver.sums("camunda.commands")
    start = [p for p in points if p[1] == {"command": "StartProcessInstanceCmd"}]
    # Cumulative on the OTLP side: 2, then 5 (plus the final collection at shutdown).
    assert [p[2] for p in start][:2] == [2, 5]
    assert {p[0] for p in points} == {CUMULATIVE}
    assert otlp_receiver.paths[0] == "/v1/metrics"
    assert _resource_attributes(otlp_receiver.requests)["camunda.product.name"] == "Test Engine"


def test_otlp_temporality_is_independent(otlp_receiver: OtlpHttpReceiver, tmp_path: Path) -> None:
    exporter = otlp_metric_exporter(
        "http/protobuf",
        temporality=AggregationTemporality.DELTA,
        endpoint=otlp_receiver.url + "/v1/metrics",
    )
    state = str(tmp_path / "state.sqlite3")
    provider = configure_meter_provider(
        telemetry=CamundaTelemetryExporter(state=state, initialize=True),
        otlp=exporter,
        export_interval_millis=3_600_000,
    )
    try:
        counter = provider.get_meter("app").create_counter("camunda.activity-instance-start")
        counter.add(4)
        assert provider.force_flush(30_000)
        counter.add(6)
        assert provider.force_flush(30_000)
        assert _pending(state).metrics["activity-instance-start"] == 10
    finally:
        provider.shutdown()
    values = [p[2] for p in otlp_receiver.sums("camunda.activity-instance-start")]
    assert values[:2] == [4, 6]
    assert {p[0] for p in otlp_receiver.sums("camunda.activity-instance-start")} == {DELTA}


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="http/json"):
        otlp_metric_exporter("http/json")


def test_grpc_side_export(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    grpc = require("grpc", "gRPC needs grpcio: pip install 'otel-camunda-telemetry[otlp]'")
    from concurrent import futures

    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as pb2_grpc

    received: list[Any] = []

    class Servicer(pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:
            received.append(request)
            return ExportMetricsServiceResponse()

    executor = futures.ThreadPoolExecutor(max_workers=2)
    server = grpc.server(executor)
    pb2_grpc.add_MetricsServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        state = str(tmp_path / "state.sqlite3")
        provider = configure_meter_provider(
            telemetry=CamundaTelemetryExporter(state=state, initialize=True),
            export_interval_millis=3_600_000,
        )
        try:
            provider.get_meter("app").create_counter("camunda.commands").add(
                7, {"command": "CompleteTaskCmd"}
            )
            assert provider.force_flush(30_000)
        finally:
            provider.shutdown()
        points = wait_for(lambda: _sums(list(received), "camunda.commands"), "a gRPC export")
        assert points[0] == (CUMULATIVE, {"command": "CompleteTaskCmd"}, 7)
    finally:
        server.stop(grace=None).wait(DEADLINE)
        executor.shutdown(wait=True)


def test_zero_code_both_exporters(otlp_receiver: OtlpHttpReceiver, tmp_path: Path) -> None:
    """``OTEL_METRICS_EXPORTER=camunda_telemetry,otlp opentelemetry-instrument python app.py``.

    The package is not pip-installed in the test venv, so its entry point is declared by a
    minimal ``.dist-info`` on ``PYTHONPATH``, exactly as an installed wheel would.
    """
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument missing: install the [zero-code] extra")
    site = tmp_path / "site"
    dist = site / "otel_camunda_telemetry-0.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: otel-camunda-telemetry\nVersion: 0.0.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[opentelemetry_metrics_exporter]\n"
        "camunda_telemetry = otel_camunda_telemetry._exporter:CamundaTelemetryExporter\n"
    )
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent("""
        from opentelemetry import metrics
        counter = metrics.get_meter("app").create_counter("camunda.commands")
        counter.add(9, {"command": "StartProcessInstanceCmd"})
    """)
    )
    state = tmp_path / "state.sqlite3"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CAMUNDA_"))},
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
        "OTEL_METRICS_EXPORTER": "camunda_telemetry,otlp",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.url,
        "OTEL_RESOURCE_ATTRIBUTES": "camunda.product.name=Zero Code Engine",
        "CAMUNDA_TELEMETRY_STATE": str(state),
        "CAMUNDA_TELEMETRY_INITIALIZE": "true",
        "CAMUNDA_TELEMETRY_SEND_ON_SHUTDOWN": "false",  # keep the counts pending to read them
    }
    result = subprocess.run(
        [str(instrument), sys.executable, str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    points = otlp_receiver.sums("camunda.commands")
    assert points and points[-1][1:] == ({"command": "StartProcessInstanceCmd"}, 9)
    resource = _resource_attributes(otlp_receiver.requests)
    assert resource["camunda.product.name"] == "Zero Code Engine"
    control = TelemetryControl(state=str(state))
    try:
        assert control.store.pending_counts().commands == {"StartProcessInstanceCmd": 9}
    finally:
        control.close()
