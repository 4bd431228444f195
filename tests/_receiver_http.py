"""Small HTTP helpers shared by the receiver tests (stdlib only, every socket closed)."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

GOLDEN = Path(__file__).parent / "golden"
TIMEOUT = 30.0  # generous: the machine is shared with other test runs


def golden(name: str) -> dict[str, Any]:
    """A fresh copy of one of the seed reports (engine_initial, engine_full, optimize)."""
    return copy.deepcopy(json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8")))


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; returns status, headers (lower-case names) and body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
    try:
        conn.request(method, parts.path or "/", body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def post_report(
    url: str,
    report: Any,
    *,
    key: str | None = "auto",
    content_type: str = "application/json",
) -> tuple[int, dict[str, str], Any]:
    """POST a report the way the exporter does; returns status, headers, decoded JSON."""
    headers = {"Content-Type": content_type, "User-Agent": "otel-camunda-telemetry/test"}
    if key == "auto":
        key = str(uuid.uuid4())
    if key is not None:
        headers["Idempotency-Key"] = key
    body = report if isinstance(report, bytes) else json.dumps(report).encode("utf-8")
    status, response_headers, data = request(url, "POST", body, headers)
    return status, response_headers, json.loads(data) if data else None


def raw_exchange(host: str, port: int, payload: bytes) -> bytes:
    """Send raw bytes, then read the whole answer until the server closes."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
