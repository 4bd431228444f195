"""The pure report builder against the seeds' examples (golden files, key order included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from otel_camunda_telemetry import Counts, LicenseKey, ProductInfo
from otel_camunda_telemetry._report import (
    build_engine_report,
    build_initial_report,
    build_optimize_report,
)
from otel_camunda_telemetry.receiver import validate_report

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


def same(report: dict[str, Any], expected: Any) -> None:
    # json.dumps keeps insertion order: equal strings mean same keys, values, types and order.
    assert json.dumps(report) == json.dumps(expected)


def test_engine_initial_report_matches_the_seed() -> None:
    report = build_initial_report(
        "b647de4d-e557-455a-a64f-feaecd55f53c",
        ProductInfo(name="Camunda BPM Runtime", version="7.14.0", edition="community"),
        telemetry_enabled=False,
    )
    same(report, golden("engine_initial.json"))
    assert validate_report(report) == "engine-initial"


def test_engine_full_report_matches_the_seed() -> None:
    info = ProductInfo.from_attributes(
        {
            "camunda.product.name": "Camunda BPM Runtime",
            "camunda.product.version": "7.14.0",
            "camunda.product.edition": "enterprise",
            "camunda.database.vendor": "h2",
            "camunda.database.version": "1.4.190 (2015-10-11)",
            "camunda.application_server.vendor": "Wildfly",
            "camunda.application_server.version": (
                "WildFly Full 19.0.0.Final (WildFly Core 11.0.0.Final) - 2.0.30.Final"
            ),
            "camunda.jdk.vendor": "Oracle Corporation",
            "camunda.jdk.version": "14.0.2",
            "camunda.integrations": ("spring-boot-starter", "camunda-bpm-run"),
            "camunda.webapps": "cockpit,admin",  # the OTEL_RESOURCE_ATTRIBUTES form
            "host.name": "must-not-appear",
        }
    )
    counts = Counts(
        commands={"StartProcessInstanceCmd": 40, "FetchExternalTasksCmd": 100},
        metrics={
            "root-process-instance-start": 936,
            "activity-instance-start": 6125,
            "executed-decision-instances": 140,
            "executed-decision-elements": 732,
        },
    )
    key = LicenseKey(
        raw="customer=customer name;expiryDate=2022-09-30;camundaBPM=true;optimize=false;cawemo=false",
        customer="customer name",
        type="UNIFIED",
        valid_until="2022-09-30",
        unlimited=False,
        features={"camundaBPM": "true"},
    )
    report = build_engine_report("8343cc7a-8ad1-42d4-97d2-43452c0bdfa3", info, counts, key)
    same(report, golden("engine_full.json"))
    assert "must-not-appear" not in json.dumps(report)
    assert validate_report(report) == "engine-full"


def test_optimize_report_matches_the_seed() -> None:
    info = ProductInfo.from_attributes(
        {
            "camunda.product.name": "Camunda Optimize",
            "camunda.product.version": "3.2.0",
            "camunda.product.edition": "enterprise",
            "camunda.database.vendor": "elasticsearch",
            "camunda.database.version": "7.0.0",
            "camunda.engine_installation_ids": (
                "8343cc7a-8ad1-42d4-97d2-43452c0bdfa3,22607b92-fcb8-11ea-adc1-0242ac120002"
            ),
        }
    )
    key = LicenseKey(
        raw="customer = a customer name; expiryDate = 2025-01-01; optimize: true;",
        customer="a customer name",
        type="UNIFIED",
        valid_until="2025-01-01",
        unlimited=False,
        features={"camundaBPM": "false", "optimize": "true", "cawemo": "false"},
    )
    report = build_optimize_report("7b86edba-fcb7-11ea-adc1-0242ac120002", info, key)
    same(report, golden("optimize.json"))
    assert validate_report(report) == "optimize"


def test_empty_sections_are_left_out_and_metrics_are_always_there() -> None:
    report = build_engine_report(
        "8343cc7a-8ad1-42d4-97d2-43452c0bdfa3",
        ProductInfo(name="P", version="1"),
        Counts(commands={"Quiet": 0}),
        None,
    )
    internals = report["product"]["internals"]
    assert list(internals) == ["jdk", "metrics"]  # jdk falls back to the interpreter
    assert internals["jdk"]["vendor"] in ("CPython", "PyPy")
    assert all(v == {"count": 0} for v in internals["metrics"].values())
    assert len(internals["metrics"]) == 4
    assert validate_report(report) == "engine-full"


def test_raw_license_key_is_sent_raw_and_without_signature() -> None:
    key = LicenseKey("c2lnbmF0dXJlYmFzZTY0MDEyMzQ1Njc4OQ==;customer=acme;expiryDate=2030-01-01")
    report = build_engine_report(
        "8343cc7a-8ad1-42d4-97d2-43452c0bdfa3", ProductInfo(), Counts(), key
    )
    assert report["product"]["internals"]["license-key"] == {
        "raw": "customer=acme;expiryDate=2030-01-01"
    }
    parsed = LicenseKey.parse(
        "sig0123456789ABCDEF;customer=acme;expiryDate=2030-01-01;optimize=true"
    )
    assert (parsed.customer, parsed.valid_until, parsed.features) == (
        "acme",
        "2030-01-01",
        {"optimize": "true"},
    )
    assert "sig0123456789ABCDEF" not in parsed.raw


def test_signature_stripping_keeps_only_key_value_segments() -> None:
    from otel_camunda_telemetry._license import strip_signature

    assert strip_signature("QUJDREVGR0hJSktMTU5PUA==;customer=acme") == "customer=acme"
    assert strip_signature("abc.def-ghi.jklmnopqrstuvwxyz0123;customer=x") == "customer=x"
    assert strip_signature("customer=x;signature=abc;camundaBPM=true") == "customer=x;camundaBPM=true"
    armored = (
        "--------------- BEGIN CAMUNDA LICENSE KEY ---------------\n"
        "c2lnbmF0dXJl;customer=acme;expiryDate=2030-01-01\n"
        "--------------- END CAMUNDA LICENSE KEY -----------------"
    )
    assert strip_signature(armored) == "customer=acme;expiryDate=2030-01-01"
