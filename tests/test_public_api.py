"""The public API is curated: ``__all__`` lists exactly the names users may rely on, each one
importable, documented, and none of them private."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC = {
    "otel_camunda_telemetry": {
        # instruments (SPEC section 2)
        "ACTIVITY_INSTANCE_START",
        "COMMANDS",
        "COMMAND_ATTRIBUTE",
        "EXECUTED_DECISION_ELEMENTS",
        "EXECUTED_DECISION_INSTANCES",
        "OVERFLOW_COMMAND",
        "ROOT_PROCESS_INSTANCE_START",
        # resource (SPEC section 3) and its detection
        "RESOURCE_KEYS",
        "ProductInfo",
        "detect_resource",
        # the exporter, its setup beside OTLP, and fast counting
        "CamundaTelemetryExporter",
        "configure_meter_provider",
        "otlp_metric_exporter",
        "BoundFastCounter",
        "FastCounter",
        "FastCounters",
        "FastMetricCounter",
        "create_fast_counters",
        # controls, configuration, reports
        "Counts",
        "LicenseKey",
        "SendSummary",
        "Settings",
        "TelemetryControl",
        "TelemetryStatus",
        "build_full_report",
        "build_initial_report",
        "__version__",
    },
    "otel_camunda_telemetry.admin": {
        "MAX_BODY_BYTES",
        "AdminApp",
        "AdminIdentity",
        "AdminRequest",
        "AdminResponse",
        "AdminServer",
        "AsgiAdminApp",
        "Authorize",
        "Forbidden",
        "NotAuthenticated",
        "add_admin_command",
        "create_admin_app",
        "password_auth",
    },
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_exactly_the_curated_set(package: str) -> None:
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert len(names) == len(set(names)), "duplicates in __all__"
    assert set(names) == PUBLIC[package]


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_name_is_importable_public_and_documented(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert not name.startswith("_") or name == "__version__", name
        value = getattr(module, name)  # AttributeError = listed but not importable
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{package}.{name} has no docstring"
            assert not value.__module__.split(".")[-1].startswith("__"), name


def test_star_import_gives_the_same_names() -> None:
    namespace: dict[str, object] = {}
    exec("from otel_camunda_telemetry import *", namespace)
    assert set(namespace) - {"__builtins__"} == PUBLIC["otel_camunda_telemetry"]
