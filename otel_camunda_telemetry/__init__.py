"""Camunda-style, opt-in product telemetry on OpenTelemetry.

Applications count with the OTel metrics API (instrument names in :mod:`._instruments`),
describe themselves with Resource attributes, and add :class:`CamundaTelemetryExporter`
to their ``MeterProvider``; reports follow Camunda's documented JSON shapes.
"""

from ._config import Settings
from ._control import SendSummary, TelemetryControl, TelemetryStatus
from ._counts import Counts
from ._detect import detect_resource
from ._exporter import CamundaTelemetryExporter
from ._fast_counter import (
    BoundFastCounter,
    FastCounter,
    FastCounters,
    FastMetricCounter,
    create_fast_counters,
)
from ._instruments import (
    ACTIVITY_INSTANCE_START,
    COMMAND_ATTRIBUTE,
    COMMANDS,
    EXECUTED_DECISION_ELEMENTS,
    EXECUTED_DECISION_INSTANCES,
    OVERFLOW_COMMAND,
    ROOT_PROCESS_INSTANCE_START,
)
from ._license import LicenseKey
from ._otlp import configure_meter_provider, otlp_metric_exporter
from ._report import build_full_report, build_initial_report
from ._resource import RESOURCE_KEYS, ProductInfo
from ._version import __version__

__all__ = [
    "ACTIVITY_INSTANCE_START",
    "COMMANDS",
    "COMMAND_ATTRIBUTE",
    "EXECUTED_DECISION_ELEMENTS",
    "EXECUTED_DECISION_INSTANCES",
    "OVERFLOW_COMMAND",
    "RESOURCE_KEYS",
    "ROOT_PROCESS_INSTANCE_START",
    "BoundFastCounter",
    "CamundaTelemetryExporter",
    "Counts",
    "FastCounter",
    "FastCounters",
    "FastMetricCounter",
    "LicenseKey",
    "ProductInfo",
    "SendSummary",
    "Settings",
    "TelemetryControl",
    "TelemetryStatus",
    "__version__",
    "build_full_report",
    "build_initial_report",
    "configure_meter_provider",
    "create_fast_counters",
    "detect_resource",
    "otlp_metric_exporter",
]
