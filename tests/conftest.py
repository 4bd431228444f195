"""Shared fixtures: a real receiver on 127.0.0.1:0, real SQLite state, real MeterProviders."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _support import PRODUCT, App

from otel_camunda_telemetry import CamundaTelemetryExporter
from otel_camunda_telemetry.receiver import RateLimit, ReceiverServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test inherits telemetry settings from the machine, or touches ~/.local."""
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_CT_TEST_"):
            continue  # the test suite's own settings (the PostgreSQL server URL)
        if name.startswith(("CAMUNDA_TELEMETRY_", "OTEL_")) or name == "DO_NOT_TRACK":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    from otel_camunda_telemetry import _config

    _config._warned.clear()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverServer]:
    """The package's own receiver: validates, dedups on Idempotency-Key, stores in SQLite."""
    with ReceiverServer(
        db=tmp_path / "receiver.sqlite3", rate_limit=RateLimit(100_000, 60.0)
    ) as server:
        yield server


@pytest.fixture
def state_path(tmp_path: Path) -> str:
    return str(tmp_path / "state.sqlite3")


@pytest.fixture
def make_app(state_path: str, receiver: ReceiverServer) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(attributes: dict[str, Any] | None = None, **options: Any) -> App:
        options.setdefault("endpoint", receiver.url)
        options.setdefault("state", state_path)
        exporter = CamundaTelemetryExporter(**options)
        app = App(exporter, {**PRODUCT, **(attributes or {})})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.shutdown()


@pytest.fixture
def caplog_telemetry(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="otel_camunda_telemetry")
    return caplog
