"""The exporter end to end: real MeterProvider, real SQLite state, the real receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from _support import PRODUCT, App, wait_for

from otel_camunda_telemetry import CamundaTelemetryExporter, TelemetryControl
from otel_camunda_telemetry.receiver import ReceiverServer


def kinds(server: ReceiverServer) -> list[str]:
    return [r.kind for r in server.store.reports()]


def full_reports(server: ReceiverServer) -> list[dict[str, Any]]:
    return [r.body for r in server.store.reports() if r.kind == "engine-full"]


def command_total(server: ReceiverServer, name: str) -> int:
    return sum(
        r["product"]["internals"].get("commands", {}).get(name, {}).get("count", 0)
        for r in full_reports(server)
    )


def test_without_consent_only_the_anonymous_initial_report_is_sent(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    app = make_app(reporting_period=0.2)
    app.command("StartProcessInstanceCmd", 5)
    wait_for(lambda: kinds(receiver) == ["engine-initial"], what="initial report")
    time.sleep(0.6)  # several periods pass: still nothing but the initial report
    app.shutdown()
    assert kinds(receiver) == ["engine-initial"]
    initial = receiver.reports()[0]
    assert initial["product"] == {
        "name": "Test Engine",
        "version": "1.2.3",
        "edition": "community",
        "internals": {"telemetry-enabled": False},
    }


def test_initial_report_is_sent_once_across_restarts(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    first = make_app()  # records nothing: the initial report goes all the same
    wait_for(lambda: kinds(receiver) == ["engine-initial"], what="initial report")
    first.shutdown()
    second = make_app()
    second.command("X")
    time.sleep(0.5)
    second.shutdown()
    assert kinds(receiver) == ["engine-initial"]


def test_consented_counts_reach_the_receiver_exactly(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    app = make_app(initialize=True, reporting_period=0.5)
    for _ in range(3):
        app.command("StartProcessInstanceCmd", 7)
        app.root.add(2)
        time.sleep(0.3)
    wait_for(lambda: len(full_reports(receiver)) >= 1, what="a periodic report")
    app.shutdown()  # the shutdown report carries the rest
    assert command_total(receiver, "StartProcessInstanceCmd") == 21
    metrics = [r["product"]["internals"]["metrics"] for r in full_reports(receiver)]
    assert sum(m["root-process-instance-start"]["count"] for m in metrics) == 6
    assert kinds(receiver)[0] == "engine-initial"
    assert receiver.reports()[0]["product"]["internals"] == {"telemetry-enabled": True}


def test_a_quiet_period_still_produces_its_report(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    # The app records nothing: the exporter finds the Resource through its MeterProvider.
    app = make_app(initialize=True, reporting_period=0.3, send_on_shutdown=False)
    wait_for(lambda: len(full_reports(receiver)) >= 2, what="two quiet reports")
    app.shutdown()
    for report in full_reports(receiver):
        internals = report["product"]["internals"]
        assert "commands" not in internals
        assert all(v["count"] == 0 for v in internals["metrics"].values())


def test_counts_recorded_before_consent_are_never_sent(
    make_app: Callable[..., App], receiver: ReceiverServer, state_path: str
) -> None:
    app = make_app(reporting_period=0.3)
    app.command("BeforeConsentCmd", 100)
    time.sleep(0.4)  # collected and discarded while consent is not given
    control = app.exporter.control
    control.enable()
    time.sleep(0.25)  # the window that straddles consent is dropped whole
    app.command("AfterConsentCmd", 3)
    wait_for(lambda: command_total(receiver, "AfterConsentCmd") == 3, what="post-consent counts")
    app.shutdown()
    assert command_total(receiver, "BeforeConsentCmd") == 0


def test_disabling_at_runtime_stops_full_reports(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    app = make_app(initialize=True, reporting_period=0.3)
    wait_for(lambda: full_reports(receiver), what="a full report")
    app.exporter.control.disable()
    app.command("AfterOptOutCmd", 4)
    count = len(full_reports(receiver))
    time.sleep(1.0)
    app.shutdown()
    assert len(full_reports(receiver)) == count
    assert command_total(receiver, "AfterOptOutCmd") == 0


def test_period_is_measured_across_restarts(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    first = make_app(initialize=True, reporting_period=3600, send_on_shutdown=False)
    first.command("A")
    time.sleep(0.3)
    first.shutdown()
    # A restart does not start a new period: nothing is due for an hour.
    second = make_app(reporting_period=3600, send_on_shutdown=False)
    time.sleep(0.5)
    second.shutdown()
    assert full_reports(receiver) == []
    # With a period that has passed since consent, the next start reports at once.
    third = make_app(reporting_period=0.5, send_on_shutdown=False)
    wait_for(lambda: command_total(receiver, "A") == 1, what="the due report")
    third.shutdown()


def test_license_key_set_at_runtime_appears_and_removed_disappears(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    app = make_app(initialize=True, reporting_period=0.3)
    app.command("X")
    app.exporter.control.set_license_key(
        "QUJDREVGR0hJSktMTU5PUA==;customer=acme;expiryDate=2030-01-01"
    )
    wait_for(
        lambda: any("license-key" in r["product"]["internals"] for r in full_reports(receiver)),
        what="a report with the key",
    )
    app.exporter.control.remove_license_key()
    n = len(full_reports(receiver))
    wait_for(lambda: len(full_reports(receiver)) > n + 1, what="later reports")
    app.shutdown()
    keys = [r["product"]["internals"].get("license-key") for r in full_reports(receiver)]
    assert {"raw": "customer=acme;expiryDate=2030-01-01"} in keys
    assert keys[-1] is None
    assert "QUJDREVGR0hJSktMTU5PUA" not in str(receiver.reports())


def test_optimize_profile_sends_no_initial_report(
    make_app: Callable[..., App], receiver: ReceiverServer
) -> None:
    app = make_app(
        {"camunda.engine_installation_ids": "8343cc7a-8ad1-42d4-97d2-43452c0bdfa3"},
        profile="optimize",
        initialize=True,
        reporting_period=0.3,
    )
    app.command("X")
    wait_for(lambda: receiver.reports(), what="an optimize report")
    app.shutdown()
    assert set(kinds(receiver)) == {"optimize"}
    assert receiver.reports()[0]["product"]["internals"]["engine-installation-ids"] == [
        "8343cc7a-8ad1-42d4-97d2-43452c0bdfa3"
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"CAMUNDA_TELEMETRY_REPORTER_ACTIVATE": "false"},
        {"DO_NOT_TRACK": "1"},
        {"OTEL_SDK_DISABLED": "true"},
    ],
)
def test_deactivated_reporter_starts_no_thread_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
    make_app: Callable[..., App],
    receiver: ReceiverServer,
    env: dict[str, str],
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    app = make_app(initialize=True, reporting_period=0.1)
    app.command("X", 3)
    assert app.exporter._reporter is None
    assert not any(t.name == "otel-camunda-telemetry-reporter" for t in threading.enumerate())
    time.sleep(0.4)
    app.shutdown()
    assert receiver.reports() == []


def test_missing_endpoint_warns_once_and_keeps_counts(
    state_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="otel_camunda_telemetry")
    app = App(
        CamundaTelemetryExporter(state=state_path, initialize=True, reporting_period=0.1),
        {"camunda.product.name": "P"},
    )
    app.command("Kept", 2)
    time.sleep(0.5)
    app.shutdown()
    assert caplog.text.count("no usable CAMUNDA_TELEMETRY_ENDPOINT") == 1
    control = TelemetryControl(state=state_path)
    assert control.status().reports_waiting >= 1  # nothing lost: it waits for an endpoint
    control.close()


def test_shutdown_is_safe_twice_and_export_after_it_is_harmless(
    make_app: Callable[..., App],
) -> None:
    app = make_app(initialize=True)
    app.exporter.shutdown()
    app.exporter.shutdown()
    app.shutdown()


def _steps_over(exporter: CamundaTelemetryExporter, seconds: float) -> int:
    assert exporter._reporter is not None
    before = exporter._reporter.steps
    time.sleep(seconds)
    return exporter._reporter.steps - before


def test_the_reporter_sleeps_when_nothing_can_be_done(state_path: str) -> None:
    # No endpoint: the initial report waits in the outbox forever, and that must not keep
    # the thread busy (it once stepped ~90 times a second here).
    app = App(
        CamundaTelemetryExporter(state=state_path, reporting_period=3600), dict(PRODUCT)
    )
    app.command("X")
    time.sleep(0.5)
    assert _steps_over(app.exporter, 2.0) <= 30  # the collections wake it 10x a second
    app.shutdown()


def test_the_reporter_sleeps_during_an_outage(state_path: str) -> None:
    # Consent on, period overdue, the endpoint refusing: one cycle, then a long wait.
    app = App(
        CamundaTelemetryExporter(
            endpoint="http://127.0.0.1:9/pings",  # nothing listens on the discard port
            state=state_path,
            initialize=True,
            reporting_period=0.1,
            request_retries=0,
        ),
        dict(PRODUCT),
    )
    app.command("X")
    time.sleep(0.5)
    assert _steps_over(app.exporter, 2.0) <= 30
    app.shutdown()


def test_without_send_on_shutdown_the_exit_makes_no_request_but_keeps_the_counts(
    make_app: Callable[..., App], receiver: ReceiverServer, state_path: str
) -> None:
    app = make_app(initialize=True, reporting_period=3600, send_on_shutdown=False)
    wait_for(lambda: receiver.store.count() == 1, what="the initial report")
    app.command("KeptCmd", 4)
    app.shutdown()
    assert receiver.store.count() == 1  # no shutdown report
    control = TelemetryControl(state=state_path)
    assert control.store.pending_counts().commands == {"KeptCmd": 4}  # for the next report
    control.close()
