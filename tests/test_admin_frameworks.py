"""The three framework examples, each served by a real server on 127.0.0.1:0 and used over
HTTP the way a new user following the README would: mount, log in, toggle, read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_camunda_telemetry import TelemetryControl
from tests._admin_support import EXAMPLE_NAMES, basic, call, serve_example

PASSWORD = "example-pw"
ADMIN = ("admin", PASSWORD)
PREFIX = "/admin/telemetry"


def exercise(base: str, state: str) -> None:
    """What every mounted admin app must do, checked over HTTP and in the state store."""
    status, headers, _ = call(base + PREFIX)
    # 308 from the admin app; Starlette's router answers the same redirect with 307 itself.
    assert status in (307, 308) and headers["location"].endswith(PREFIX + "/")
    status, headers, _ = call(base + PREFIX + "/")
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    status, headers, page = call(base + PREFIX + "/", headers=basic(ADMIN))
    assert status == 200 and b'id="enable-telemetry"' in page
    assert "content-security-policy" in headers

    config = base + PREFIX + "/telemetry/configuration"
    assert call(config, headers=basic(("admin", "wrong")))[0] == 401
    assert call(config, headers=basic(ADMIN))[::2] == (200, {"enableTelemetry": None})
    assert call(config, "POST", {"enableTelemetry": True}, basic(ADMIN))[0] == 204
    assert call(config, headers=basic(ADMIN))[2] == {"enableTelemetry": True}
    status, headers, error = call(
        config, "POST", headers={**basic(ADMIN), "Content-Type": "application/json"}, raw=b"{"
    )
    assert status == 400 and headers["content-type"] == "application/json"
    assert error["error"] == "Bad Request"
    assert call(config, "PUT", {"enableTelemetry": True}, basic(ADMIN))[0] == 405

    status, _, report = call(base + PREFIX + "/telemetry/data", headers=basic(ADMIN))
    assert status == 200 and set(report) == {"installation", "product"}

    reader = TelemetryControl(state=state)
    try:
        assert reader.status().enabled is True
        assert report["installation"] == reader.status().installation_id
    finally:
        reader.close()
    # The host application's own routes still work beside the mount.
    status, _, home = call(base + "/")
    assert status == 200 and PREFIX.encode() in home


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_ADMIN_PASSWORD", PASSWORD)
    state = str(tmp_path / "state.sqlite3")
    with serve_example(name, state) as base:
        exercise(base, state)
