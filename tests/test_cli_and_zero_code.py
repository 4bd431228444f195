"""As a user would: the console script, zero-code setup with restarts, the CLI toggling a
running installation. Real subprocesses, the real receiver, a real SQLite state file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _support import wait_for

from otel_camunda_telemetry.receiver import ReceiverServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otel_camunda_telemetry", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(state_path: str, receiver: ReceiverServer) -> dict[str, str]:
    return {
        **os.environ,
        "CAMUNDA_TELEMETRY_STATE": state_path,
        "CAMUNDA_TELEMETRY_ENDPOINT": receiver.url,
        "PYTHONPATH": str(EXAMPLES.parent),
    }


def zero_code(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    instrument = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    assert instrument, "opentelemetry-instrument is installed with the [zero-code] extra"
    run_env = {
        **env,
        "OTEL_METRICS_EXPORTER": "camunda_telemetry",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_RESOURCE_ATTRIBUTES": "camunda.product.name=Zero Code Engine,"
        "camunda.product.version=2.0.0,camunda.webapps=cockpit%2Cadmin,host.name=secret-host",
        **extra,
    }
    return subprocess.run(
        [instrument, sys.executable, str(EXAMPLES / "app.py")],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_status_json_and_toggle_act_on_the_state(env: dict[str, str]) -> None:
    status = json.loads(cli("status", "--json", env=env).stdout)
    assert status["enableTelemetry"] is None and len(status["installationId"]) == 36
    assert cli("enable", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["enableTelemetry"] is True
    shown = json.loads(cli("show", env=env).stdout)
    assert shown["installation"] == status["installationId"]
    assert cli("disable", env=env).returncode == 0
    assert json.loads(cli("status", "--json", env=env).stdout)["enableTelemetry"] is False
    assert cli("bogus", env=env).returncode == 2


def test_zero_code_reports_and_survives_restarts(env: dict[str, str], receiver: ReceiverServer) -> None:
    first = zero_code(env, CAMUNDA_TELEMETRY_INITIALIZE="true", APP_ITERATIONS="10")
    assert first.returncode == 0, first.stderr
    second = zero_code(env, APP_ITERATIONS="5")
    assert second.returncode == 0, second.stderr
    third = zero_code(env, APP_ITERATIONS="1")
    assert third.returncode == 0, third.stderr
    reports = receiver.store.reports()
    assert [r.kind for r in reports].count("engine-initial") == 1  # once, across restarts
    full = [r.body for r in reports if r.kind == "engine-full"]
    total = sum(
        b["product"]["internals"].get("commands", {}).get("StartProcessInstanceCmd", {}).get("count", 0)
        for b in full
    )
    assert total == 16
    assert full[0]["product"]["name"] == "Zero Code Engine"
    assert full[0]["product"]["internals"]["webapps"] == ["cockpit", "admin"]
    assert "secret-host" not in json.dumps([r.body for r in reports])
    assert len({b["installation"] for b in full}) == 1
    # The CLI, another process, reports the product the app described.
    shown = json.loads(cli("show", env=env).stdout)
    assert shown["product"]["name"] == "Zero Code Engine"


def test_cli_toggles_a_running_installation(env: dict[str, str], receiver: ReceiverServer) -> None:
    # The app runs with a short period, consent not given; the CLI enables it from outside.
    app_env = {**env, "APP_ITERATIONS": "3", "APP_LINGER": "60", "CAMUNDA_TELEMETRY_REPORTING_PERIOD": "0.5"}
    instrument = shutil.which("opentelemetry-instrument", path=os.path.dirname(sys.executable))
    assert instrument
    proc = subprocess.Popen(
        [instrument, sys.executable, str(EXAMPLES / "app.py")],
        env={
            **app_env,
            "OTEL_METRICS_EXPORTER": "camunda_telemetry",
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_RESOURCE_ATTRIBUTES": "camunda.product.name=Toggled,camunda.product.version=1",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: receiver.store.count() >= 1, what="the initial report")
        assert [r.kind for r in receiver.store.reports()] == ["engine-initial"]
        assert cli("enable", env=env).returncode == 0
        wait_for(
            lambda: any(r.kind == "engine-full" for r in receiver.store.reports()),
            timeout=30,
            what="a full report after the CLI enabled telemetry",
        )
        assert cli("disable", env=env).returncode == 0
    finally:
        proc.terminate()
        proc.wait(30)


def test_demo_runs_to_completion_with_exact_totals() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "otel_camunda_telemetry", "demo", "--seconds", "3", "--period", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exact" in result.stdout
    assert '"telemetry-enabled": true' in result.stdout


def test_send_without_a_known_product_sends_nothing(
    env: dict[str, str], receiver: ReceiverServer
) -> None:
    # No application ever ran here: a report now would carry an invented product.
    assert cli("enable", env=env).returncode == 0
    result = cli("send", env=env)
    assert result.returncode == 1
    assert "product is not known" in result.stdout
    assert receiver.store.count() == 0


def test_send_honours_a_deactivated_reporter(env: dict[str, str], receiver: ReceiverServer) -> None:
    zero_code({**env, "CAMUNDA_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/p"}, APP_ITERATIONS="1")
    for name, value in (
        ("CAMUNDA_TELEMETRY_REPORTER_ACTIVATE", "false"),
        ("DO_NOT_TRACK", "1"),
        ("OTEL_SDK_DISABLED", "true"),
    ):
        result = cli("send", env={**env, name: value})
        assert result.returncode == 1 and "not activated" in result.stdout
    assert receiver.store.count() == 0


def test_an_unusable_state_named_on_the_command_line_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = cli("enable", "--state", str(blocker / "state.sqlite3"), env=env)
    assert result.returncode == 1
    assert "state.sqlite3" in result.stderr
    assert "Traceback" not in result.stderr
