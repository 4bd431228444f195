"""The admin REST API over real HTTP (wsgiref on 127.0.0.1:0) against real SQLite state."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_camunda_telemetry import Counts, TelemetryControl
from otel_camunda_telemetry.admin import AdminRequest, create_admin_app
from tests._admin_support import ADMIN, OUTSIDER, VIEWER, authorize, basic, call, serve_wsgi

CONFIG = "/telemetry/configuration"


@pytest.fixture
def control(tmp_path: Path) -> Iterator[TelemetryControl]:
    control = TelemetryControl(state=str(tmp_path / "state.sqlite3"))
    yield control
    control.close()


@pytest.fixture
def url(control: TelemetryControl) -> Iterator[str]:
    with serve_wsgi(create_admin_app(control, authorize=authorize)) as base:
        yield base


def test_configuration_round_trip_and_shared_state(
    url: str, control: TelemetryControl, tmp_path: Path
) -> None:
    assert call(url + CONFIG, headers=basic(ADMIN))[::2] == (200, {"enableTelemetry": None})
    status, _, body = call(url + CONFIG, "POST", {"enableTelemetry": True}, basic(ADMIN))
    assert (status, body) == (204, b"")
    assert call(url + CONFIG, headers=basic(ADMIN))[2] == {"enableTelemetry": True}
    # Another process's view of the same state file sees the change.
    other = TelemetryControl(state=str(tmp_path / "state.sqlite3"))
    try:
        assert other.is_enabled()
    finally:
        other.close()
    assert call(url + CONFIG, "POST", {"enableTelemetry": False}, basic(ADMIN))[0] == 204
    assert call(url + CONFIG, headers=basic(VIEWER))[2] == {"enableTelemetry": False}
    assert control.status().enabled is False


def test_no_callback_refuses_everything(control: TelemetryControl) -> None:
    with serve_wsgi(create_admin_app(control)) as base:
        for method, path in [("GET", CONFIG), ("GET", "/telemetry/data"), ("GET", "/")]:
            status, _, body = call(base + path, method, headers=basic(ADMIN))
            assert status == 403, path
            assert "default deny" in body["message"]
        status, _, _ = call(base + CONFIG, "POST", {"enableTelemetry": True}, basic(ADMIN))
        assert status == 403
    assert control.status().enabled is None


@pytest.mark.parametrize("path", [CONFIG, "/telemetry/data", "/telemetry/status", "/"])
def test_unauthenticated_is_401_with_challenge(url: str, path: str) -> None:
    status, headers, body = call(url + path)
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="telemetry"'
    assert body["error"] == "Unauthorized"


def test_forbidden_and_read_only(url: str, control: TelemetryControl) -> None:
    assert call(url + CONFIG, headers=basic(OUTSIDER))[0] == 403
    assert call(url + CONFIG, headers=basic(VIEWER))[0] == 200
    status, _, body = call(url + CONFIG, "POST", {"enableTelemetry": True}, basic(VIEWER))
    assert status == 403
    assert body["message"] == "viewer may not change telemetry"
    assert call(url + "/telemetry/license-key", "DELETE", headers=basic(VIEWER))[0] == 403
    assert control.status().enabled is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"enableTelemetry": "yes"}', "expected"),
        (b'{"enableTelemetry": 1}', "expected"),
        (b"{}", "expected"),
        (b'{"enableTelemetry": true, "extra": 1}', "expected"),
        (b"[true]", "expected"),
        (b"\xff\xfe", "malformed JSON"),
    ],
)
def test_malformed_body_is_400_json(
    url: str, control: TelemetryControl, raw: bytes, reason: str
) -> None:
    headers = {**basic(ADMIN), "Content-Type": "application/json"}
    status, response_headers, body = call(url + CONFIG, "POST", headers=headers, raw=raw)
    assert status == 400
    assert response_headers["content-type"] == "application/json"
    assert body["error"] == "Bad Request"
    assert reason in body["message"]
    assert control.status().enabled is None


def test_content_type_size_method_and_route(url: str) -> None:
    form = {**basic(ADMIN), "Content-Type": "application/x-www-form-urlencoded"}
    assert call(url + CONFIG, "POST", headers=form, raw=b"enableTelemetry=true")[0] == 415
    big = {**basic(ADMIN), "Content-Type": "application/json"}
    assert call(url + CONFIG, "POST", headers=big, raw=b" " * 20_000)[0] == 413
    status, headers, body = call(url + CONFIG, "DELETE", headers=basic(ADMIN))
    assert (status, headers["allow"]) == (405, "GET, POST")
    assert body["error"] == "Method Not Allowed"
    assert call(url + "/telemetry/data", "POST", {"x": 1}, basic(ADMIN))[0] == 405
    assert call(url + "/nope", headers=basic(ADMIN))[0] == 404


def test_data_is_the_preview_and_resets_nothing(url: str, control: TelemetryControl) -> None:
    control.enable()
    counts = Counts(commands={"StartProcessInstanceCmd": 3}, metrics={"activity-instance-start": 7})
    assert control.store.add_counts(counts, window_start=time.time() + 1, max_commands=100)
    first = call(url + "/telemetry/data", headers=basic(VIEWER))
    second = call(url + "/telemetry/data", headers=basic(ADMIN))
    assert first[0] == second[0] == 200
    assert first[2] == second[2] == control.preview()
    internals = first[2]["product"]["internals"]
    assert internals["commands"] == {"StartProcessInstanceCmd": {"count": 3}}
    assert internals["metrics"]["activity-instance-start"] == {"count": 7}
    assert control.store.pending_counts().total() == 10


def test_status_and_page(url: str, control: TelemetryControl) -> None:
    status, _, body = call(url + "/telemetry/status", headers=basic(VIEWER))
    assert status == 200
    assert body["installationId"] == control.status().installation_id
    assert body["user"] == {"name": "viewer", "canChange": False}
    status, headers, page = call(url + "/", headers=basic(ADMIN))
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b'id="enable-telemetry"' in page
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "'sha256-" in csp
    assert b"http://" not in page and b"https://" not in page  # no external assets


def test_license_key_set_and_removed(url: str, control: TelemetryControl) -> None:
    key = {"licenseKey": "customer = ACME;expiryDate = 2099-01-01;camundaBPM = true;"}
    assert call(url + "/telemetry/license-key", "PUT", key, basic(ADMIN))[0] == 204
    assert control.status().license_key_set
    bad = call(url + "/telemetry/license-key", "PUT", {"licenseKey": 5}, basic(ADMIN))
    assert bad[0] == 400
    assert call(url + "/telemetry/license-key", "DELETE", headers=basic(ADMIN))[0] == 204
    assert not control.status().license_key_set


def test_every_change_is_logged_with_who(url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="otel_camunda_telemetry.admin")
    call(url + CONFIG, "POST", {"enableTelemetry": True}, basic(ADMIN))
    call(url + CONFIG, "POST", {"enableTelemetry": False}, basic(ADMIN))
    call(url + "/telemetry/license-key", "DELETE", headers=basic(ADMIN))
    messages = [r.getMessage() for r in caplog.records if r.name == "otel_camunda_telemetry.admin"]
    assert messages == [
        "telemetry enabled by admin (was undecided)",
        "telemetry disabled by admin (was enabled)",
        "telemetry license key removed by admin",
    ]


def test_callback_errors_and_prefix(control: TelemetryControl) -> None:
    def broken(request: AdminRequest) -> str:
        raise RuntimeError("auth backend down")

    app = create_admin_app(control, authorize=broken)
    assert app.handle(AdminRequest("GET", CONFIG)).status == 500
    prefixed = create_admin_app(control, authorize=lambda r: "ops", prefix="/admin/telemetry/")
    assert prefixed.handle(AdminRequest("GET", "/admin/telemetry" + CONFIG)).status == 200
    assert prefixed.handle(AdminRequest("GET", "/admin/telemetry")).status == 200  # the page
