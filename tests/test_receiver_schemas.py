"""The packaged JSON Schemas accept the seed examples and refuse what does not belong."""

from __future__ import annotations

from typing import Any

import pytest
from _receiver_http import golden

from otel_camunda_telemetry.receiver import (
    KINDS,
    ReportValidationError,
    classify_report,
    load_schema,
    validate_report,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("engine_initial", "engine-initial"),
        ("engine_full", "engine-full"),
        ("optimize", "optimize"),
    ],
)
def test_seed_examples_validate_as_their_kind(name: str, kind: str) -> None:
    report = golden(name)
    assert classify_report(report) == kind
    assert validate_report(report) == kind


def test_every_kind_has_a_packaged_draft_2020_schema() -> None:
    for kind in KINDS:
        schema = load_schema(kind)
        assert schema["$schema"].endswith("2020-12/schema")
        assert schema["additionalProperties"] is False


def _full_without(*sections: str) -> dict[str, Any]:
    report = golden("engine_full")
    for section in sections:
        del report["product"]["internals"][section]
    return report


def test_full_report_sections_are_optional_except_metrics() -> None:
    optional = [
        "database",
        "application-server",
        "jdk",
        "commands",
        "camunda-integration",
        "license-key",
        "webapps",
    ]
    assert validate_report(_full_without(*optional)) == "engine-full"


def test_license_key_may_hold_only_raw_and_other_command_is_just_a_command() -> None:
    report = golden("engine_full")
    report["product"]["internals"]["license-key"] = {"raw": "customer=x"}
    report["product"]["internals"]["commands"]["(other)"] = {"count": 7}
    assert validate_report(report) == "engine-full"


def _error(report: Any) -> ReportValidationError:
    with pytest.raises(ReportValidationError) as caught:
        validate_report(report)
    return caught.value


def test_failures_name_the_json_path() -> None:
    report = golden("engine_full")
    report["product"]["internals"]["commands"]["FetchExternalTasksCmd"]["count"] = -1
    error = _error(report)
    assert error.kind == "engine-full"
    assert error.path == "$.product.internals.commands.FetchExternalTasksCmd.count"

    report = golden("engine_full")
    report["product"]["edition"] = "premium"
    assert _error(report).path == "$.product.edition"

    report = golden("engine_full")
    del report["product"]["internals"]["metrics"]["activity-instance-start"]
    report["product"]["internals"]["engine-installation-ids"] = []  # forces the full check
    assert _error(report).path.startswith("$.product.internals")


@pytest.mark.parametrize(
    ("name", "where", "extra"),
    [
        ("engine_initial", (), {"hostname": "db-01"}),
        ("engine_initial", ("product",), {"pid": 4242}),
        ("engine_full", ("product", "internals"), {"user": "root"}),
        ("engine_full", ("product", "internals", "jdk"), {"path": "/opt/java"}),
        ("optimize", ("product", "internals"), {"host": "x"}),
    ],
)
def test_unexpected_fields_are_refused(
    name: str, where: tuple[str, ...], extra: dict[str, Any]
) -> None:
    report = golden(name)
    target = report
    for key in where:
        target = target[key]
    target.update(extra)
    error = _error(report)
    assert error.path == "$" + "".join(f".{key}" for key in where)
    assert "unexpected" in error.message


def test_value_types_follow_the_profile() -> None:
    engine = golden("engine_full")
    engine["product"]["internals"]["license-key"]["unlimited"] = "false"  # Optimize style
    assert _error(engine).path == "$.product.internals['license-key'].unlimited"

    optimize = golden("optimize")
    optimize["product"]["internals"]["license-key"]["unlimited"] = False  # engine style
    assert _error(optimize).path == "$.product.internals['license-key'].unlimited"

    initial = golden("engine_initial")
    initial["installation"] = "not-a-uuid"
    assert _error(initial).path == "$.installation"

    initial = golden("engine_initial")
    initial["product"]["internals"]["telemetry-enabled"] = "false"
    assert _error(initial).path == "$.product.internals['telemetry-enabled']"


def test_counts_are_integers_not_booleans_or_fractions() -> None:
    for bad in (True, 1.5, "3", None):
        report = golden("engine_full")
        report["product"]["internals"]["metrics"]["root-process-instance-start"]["count"] = bad
        assert (
            _error(report).path
            == "$.product.internals.metrics['root-process-instance-start'].count"
        )


def test_non_objects_are_refused_at_the_root() -> None:
    bad: object
    for bad in ([], "report", 3, None):
        assert _error(bad).path == "$"
