"""Configuration: argument > environment > default; bad values warn once and fall back."""

from __future__ import annotations

import logging

import pytest

from otel_camunda_telemetry import Settings


def test_defaults_follow_the_spec() -> None:
    s = Settings.resolve(env={"HOME": "/home/u"})
    assert s.endpoint is None
    assert s.state == "/home/u/.local/share/otel-camunda-telemetry/state.sqlite3"
    assert (s.initialize, s.reporter_activate, s.send_on_shutdown) == (False, True, True)
    assert (s.reporting_period, s.request_timeout, s.request_retries) == (86400.0, 15.0, 2)
    assert (s.shutdown_timeout, s.profile, s.license_key, s.max_commands) == (
        3.0,
        "engine",
        None,
        2000,
    )


def test_environment_then_argument_wins() -> None:
    env = {
        "CAMUNDA_TELEMETRY_ENDPOINT": "https://t.example.com/pings",
        "CAMUNDA_TELEMETRY_REPORTING_PERIOD": "60",
        "CAMUNDA_TELEMETRY_INITIALIZE": "TRUE",
        "CAMUNDA_TELEMETRY_PROFILE": "optimize",
        "CAMUNDA_TELEMETRY_REQUEST_TIMEOUT": "2500",
    }
    s = Settings.resolve(env=env)
    assert (s.endpoint, s.reporting_period, s.initialize, s.profile) == (
        "https://t.example.com/pings",
        60.0,
        True,
        "optimize",
    )
    assert s.request_timeout == 2.5
    assert Settings.resolve(reporting_period=5, env=env).reporting_period == 5.0


@pytest.mark.parametrize(
    ("variable", "value", "field", "default"),
    [
        ("CAMUNDA_TELEMETRY_INITIALIZE", "yes", "initialize", False),
        ("CAMUNDA_TELEMETRY_SEND_ON_SHUTDOWN", "0", "send_on_shutdown", True),
        ("CAMUNDA_TELEMETRY_REPORTING_PERIOD", "daily", "reporting_period", 86400.0),
        ("CAMUNDA_TELEMETRY_REQUEST_RETRIES", "-1", "request_retries", 2),
        ("CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT", "nan", "shutdown_timeout", 3.0),
        ("CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT", "inf", "shutdown_timeout", 3.0),
        ("CAMUNDA_TELEMETRY_MAX_COMMANDS", "1e3", "max_commands", 2000),
        ("CAMUNDA_TELEMETRY_PROFILE", "cloud", "profile", "engine"),
    ],
)
def test_bad_value_warns_once_naming_variable_and_value(
    caplog: pytest.LogCaptureFixture, variable: str, value: str, field: str, default: object
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_camunda_telemetry")
    for _ in range(3):
        assert getattr(Settings.resolve(env={variable: value}), field) == default
    warnings = [r.getMessage() for r in caplog.records if variable in r.getMessage()]
    assert len(warnings) == 1
    assert repr(value) in warnings[0]


def test_plain_http_only_for_loopback(caplog: pytest.LogCaptureFixture) -> None:
    for ok in (
        "http://127.0.0.1:8080/p",
        "http://localhost/p",
        "http://[::1]:9/p",
        "https://x.io/p",
    ):
        assert Settings.resolve(endpoint=ok, env={}).endpoint == ok
    caplog.set_level(logging.WARNING, logger="otel_camunda_telemetry")
    assert Settings.resolve(endpoint="http://telemetry.example.com/p", env={}).endpoint is None
    assert "http://telemetry.example.com/p" in caplog.text
    assert "CAMUNDA_TELEMETRY_ENDPOINT" in caplog.text


@pytest.mark.parametrize("url", ["https://[::1", "https://host:99999/x", "ftp://x/y"])
def test_malformed_endpoint_warns_and_never_raises(
    caplog: pytest.LogCaptureFixture, url: str
) -> None:
    caplog.set_level(logging.WARNING, logger="otel_camunda_telemetry")
    assert Settings.resolve(env={"CAMUNDA_TELEMETRY_ENDPOINT": url}).endpoint is None
    assert "CAMUNDA_TELEMETRY_ENDPOINT" in caplog.text


def test_endpoint_password_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otel_camunda_telemetry")
    Settings.resolve(endpoint="http://user:s3cret@telemetry.example.com/p", env={})
    assert "s3cret" not in caplog.text and "user:***@" in caplog.text


@pytest.mark.parametrize(
    "env",
    [
        {"CAMUNDA_TELEMETRY_REPORTER_ACTIVATE": "false"},
        {"DO_NOT_TRACK": "1"},
        {"OTEL_SDK_DISABLED": "true"},
    ],
)
def test_opt_outs_deactivate_the_reporter(env: dict[str, str]) -> None:
    assert Settings.resolve(endpoint="https://x.io/p", env=env).reporter_activate is False
