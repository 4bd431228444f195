"""One call for the usual setup: telemetry reports and the user's own OTLP collector, side by
side on one ``MeterProvider``.

Each reader asks for its own temporality: the telemetry exporter reads counters as DELTA (it
adds them up in the state store); the OTLP exporter gets CUMULATIVE sums unless told
otherwise (the OTLP default, and what Prometheus-style backends expect). The SDK keeps
separate aggregation state per reader, so the two never disturb each other.

The zero-code equivalent is ``OTEL_METRICS_EXPORTER=camunda_telemetry,otlp
opentelemetry-instrument python app.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

from opentelemetry import metrics
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from ._exporter import CamundaTelemetryExporter

__all__ = ["OTLP_PROTOCOLS", "configure_meter_provider", "otlp_metric_exporter"]

#: The OTLP protocols this setup understands (the Python SDK has no ``http/json``).
OTLP_PROTOCOLS = ("http/protobuf", "grpc")

_INSTRUMENTS: tuple[type, ...] = (
    Counter,
    UpDownCounter,
    Histogram,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
)


def otlp_metric_exporter(
    protocol: str | None = None,
    *,
    temporality: AggregationTemporality | None = None,
    endpoint: str | None = None,
) -> MetricExporter:
    """An OTLP metric exporter configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables.

    Args:
        protocol: ``"http/protobuf"`` or ``"grpc"``; default
            ``OTEL_EXPORTER_OTLP_METRICS_PROTOCOL``, then ``OTEL_EXPORTER_OTLP_PROTOCOL``,
            then ``http/protobuf``.
        temporality: For every instrument kind; ``None`` leaves it to the exporter
            (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``, default cumulative).
        endpoint: Overrides ``OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT``; for HTTP it is the full
            URL including ``/v1/metrics``.

    Raises:
        ImportError: the ``[otlp]`` extra is not installed (the message says how to get it).
        ValueError: an unknown protocol.
    """
    chosen = (
        (
            protocol
            or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        .strip()
        .lower()
    )
    if chosen not in OTLP_PROTOCOLS:
        raise ValueError(f"unsupported OTLP protocol {chosen!r}; use one of {OTLP_PROTOCOLS}")
    preferred: dict[type, AggregationTemporality] | None = None
    if temporality is not None:
        preferred = dict.fromkeys(_INSTRUMENTS, temporality)
    # Imported here: the exporters (and grpcio) are an optional extra and slow to import.
    try:
        if chosen == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as GrpcExporter,
            )

            return GrpcExporter(endpoint=endpoint, preferred_temporality=preferred)
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpExporter,
        )

        return HttpExporter(endpoint=endpoint, preferred_temporality=preferred)
    except ImportError as exc:
        raise ImportError(
            f"OTLP over {chosen} needs the [otlp] extra: "
            f"pip install 'otel-camunda-telemetry[otlp]' ({exc})"
        ) from exc


def configure_meter_provider(
    *,
    resource: Resource | None = None,
    telemetry: CamundaTelemetryExporter | Literal[False] | None = None,
    otlp: bool | MetricExporter = True,
    protocol: str | None = None,
    otlp_temporality: AggregationTemporality | None = None,
    export_interval_millis: float | None = None,
    telemetry_interval_millis: float | None = None,
    extra_readers: Sequence[MetricReader] = (),
    views: Sequence[View] = (),
    set_global: bool = False,
) -> MeterProvider:
    """A ``MeterProvider`` with the telemetry reader and an OTLP reader side by side.

    Args:
        resource: Describes the installation (see :func:`detect_resource`); default
            ``Resource.create()`` (which reads ``OTEL_RESOURCE_ATTRIBUTES``).
        telemetry: The telemetry exporter; ``None`` builds one from the
            ``CAMUNDA_TELEMETRY_*`` variables; ``False`` leaves it out.
        otlp: ``True`` adds an OTLP exporter from the ``OTEL_EXPORTER_OTLP_*`` variables;
            an exporter instance is used as given; ``False`` leaves it out.
        protocol: ``"http/protobuf"`` or ``"grpc"`` (see :func:`otlp_metric_exporter`).
        otlp_temporality: The OTLP reader's temporality (default: cumulative, or
            ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``). The telemetry reader
            always reads deltas.
        export_interval_millis: The OTLP reader's interval; default ``OTEL_METRIC_EXPORT_INTERVAL``
            or 60 s.
        telemetry_interval_millis: How often counts are checkpointed into the state store
            (default: the same as ``export_interval_millis``). Reports still go out once per
            reporting period.
        extra_readers: More readers (e.g. a Prometheus reader).
        views: Views for every reader.
        set_global: Also make it the global provider (``metrics.set_meter_provider``).

    Example:
        >>> import tempfile
        >>> provider = configure_meter_provider(
        ...     telemetry=CamundaTelemetryExporter(
        ...         state=tempfile.mkdtemp() + "/state.db", reporter_activate=False),
        ...     otlp=False)  # True needs a collector; see the README, "OTLP"
        >>> provider.get_meter("app").create_counter("camunda.commands").add(
        ...     1, {"command": "StartProcessInstanceCmd"})
        >>> provider.shutdown()
    """
    readers: list[MetricReader] = []
    if telemetry is not False:
        exporter = telemetry if telemetry is not None else CamundaTelemetryExporter()
        readers.append(
            PeriodicExportingMetricReader(
                exporter,
                export_interval_millis=telemetry_interval_millis or export_interval_millis,
            )
        )
    if otlp is not False:
        otlp_exporter = (
            otlp_metric_exporter(protocol, temporality=otlp_temporality) if otlp is True else otlp
        )
        readers.append(
            PeriodicExportingMetricReader(
                otlp_exporter, export_interval_millis=export_interval_millis
            )
        )
    readers.extend(extra_readers)
    provider = MeterProvider(
        resource=resource if resource is not None else Resource.create(),
        metric_readers=readers,
        views=list(views),
    )
    if set_global:
        metrics.set_meter_provider(provider)
    return provider
