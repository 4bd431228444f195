"""Helpers for the admin tests: a real threaded WSGI server on 127.0.0.1:0, HTTP calls,
and the authorization callback the tests use (HTTP basic auth, one admin, one viewer)."""

from __future__ import annotations

import base64
import http.client
import importlib
import importlib.util
import json
import os
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from otel_camunda_telemetry.admin import AdminIdentity, AdminRequest, Forbidden, NotAuthenticated

TIMEOUT = 30.0  # generous: the machine is shared with other test runs
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXTRA = "pip install 'otel-camunda-telemetry[test]'"
EXAMPLE_NAMES = ("flask", "django", "starlette")
ADMIN = ("admin", "admin-pw")
VIEWER = ("viewer", "viewer-pw")
OUTSIDER = ("mallory", "mallory-pw")


def in_ci() -> bool:
    """True on a CI runner, where a missing test dependency fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(module: str, how: str) -> ModuleType:
    """Import ``module``, or skip the test saying ``how`` to get it (fail in CI)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"needs {module} ({exc}): {how}"
        if in_ci():
            raise AssertionError(message) from exc
        pytest.skip(message)


def authorize(request: AdminRequest) -> AdminIdentity:
    """admin may change, viewer may read, mallory is known but refused, others must log in."""
    credentials = request.basic_credentials()
    if credentials == ADMIN:
        return AdminIdentity("admin")
    if credentials == VIEWER:
        return AdminIdentity("viewer", can_change=False)
    if credentials == OUTSIDER:
        raise Forbidden("mallory is not a telemetry administrator")
    raise NotAuthenticated(challenge='Basic realm="telemetry"')


def basic(credentials: tuple[str, str]) -> dict[str, str]:
    token = base64.b64encode(":".join(credentials).encode()).decode()
    return {"Authorization": f"Basic {token}"}


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = False
    block_on_close = True


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1:0 in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        server.server_close()


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1:0 in a thread; yields the base URL."""
    uvicorn = require("uvicorn", "pip install uvicorn")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)


@contextmanager
def serve_example(name: str, state: str) -> Iterator[str]:
    """Serve ``examples/admin_<name>.py`` for real (TELEMETRY_ADMIN_PASSWORD must be set)."""
    example = load_example(f"admin_{name}")
    if name == "flask":
        require("flask", EXTRA)
        from werkzeug.serving import make_server

        app = example.create_app(state)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
            server.server_close()
            app.extensions["telemetry_control"].close()
    elif name == "django":
        require("django", EXTRA)
        from django.core.wsgi import get_wsgi_application

        admin = example.setup(state)
        try:
            with serve_wsgi(get_wsgi_application()) as base:
                yield base
        finally:
            admin.control.close()
    else:
        require("starlette", EXTRA)
        app = example.create_app(state)
        try:
            with serve_asgi(app) as base:
                yield base
        finally:
            app.state.telemetry_control.close()


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


def call(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; JSON bodies are encoded and decoded. Returns status, headers, body."""
    parts = urlsplit(url)
    sent_headers = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        sent_headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
    try:
        path = parts.path or "/"
        conn.request(method, path, body=data, headers=sent_headers)
        response = conn.getresponse()
        payload = response.read()
        response_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    decoded: Any = payload
    if response_headers.get("content-type", "").startswith("application/json") and payload:
        decoded = json.loads(payload)
    return response.status, response_headers, decoded
