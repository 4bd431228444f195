"""The three framework examples, each served by a real server on 127.0.0.1:0 and used over
HTTP the way a new user following the README would: mount, log in, toggle, read back."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from otel_camunda_telemetry import TelemetryControl
from tests._admin_support import TIMEOUT, basic, call, require, serve_wsgi

EXTRA = "pip install 'otel-camunda-telemetry[test]'"

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PASSWORD = "example-pw"
ADMIN = ("admin", PASSWORD)
PREFIX = "/admin/telemetry"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as the module ``name`` (as ``python examples/...`` would)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "state.sqlite3")


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TELEMETRY_ADMIN_PASSWORD", PASSWORD)
    return PASSWORD


def test_flask_example(state: str, password: str) -> None:
    require("flask", EXTRA)
    from werkzeug.serving import make_server

    app = load_example("admin_flask").create_app(state)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        exercise(f"http://127.0.0.1:{server.server_port}", state)
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        server.server_close()
        app.extensions["telemetry_control"].close()


def test_django_example(state: str, password: str) -> None:
    require("django", EXTRA)
    example = load_example("admin_django")
    from django.core.wsgi import get_wsgi_application

    admin = example.setup(state)
    try:
        with serve_wsgi(get_wsgi_application()) as base:
            exercise(base, state)
    finally:
        admin.control.close()


@pytest.fixture
def uvicorn_server() -> Iterator[Any]:
    uvicorn = require("uvicorn", EXTRA)
    servers: list[tuple[Any, threading.Thread]] = []

    def start(app: Any) -> str:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(TIMEOUT)


def test_starlette_example(state: str, password: str, uvicorn_server: Any) -> None:
    require("starlette", EXTRA)
    app = load_example("admin_starlette").create_app(state)
    try:
        exercise(uvicorn_server(app), state)
    finally:
        app.state.telemetry_control.close()
