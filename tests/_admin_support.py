"""Helpers for the admin tests: a real threaded WSGI server on 127.0.0.1:0, HTTP calls,
and the authorization callback the tests use (HTTP basic auth, one admin, one viewer)."""

from __future__ import annotations

import base64
import http.client
import importlib
import json
import os
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from otel_camunda_telemetry.admin import AdminIdentity, AdminRequest, Forbidden, NotAuthenticated

TIMEOUT = 30.0  # generous: the machine is shared with other test runs
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
