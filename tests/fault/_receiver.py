"""A scriptable, fault-injecting telemetry receiver on 127.0.0.1:0.

Each POST takes the next action from a schedule (then the default action): an HTTP status
(``"202"``, ``"503"``, ``"400"``), ``"429:<seconds>"`` or ``"429-date:<seconds>"`` (with a
``Retry-After`` in delta-seconds or as an HTTP date), ``"reset"`` (the connection is
closed with an RST, no answer) or ``"hang"`` (the request is read and never answered).
Accepted reports are deduplicated on ``Idempotency-Key`` exactly as a real receiver would,
so :meth:`FaultReceiver.totals` is what the receiver *acknowledged*, counted once.
"""

from __future__ import annotations

import email.utils
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: How long a "hang" holds a connection at most (the test ends long before).
HANG_LIMIT = 120.0


@dataclass(frozen=True)
class Attempt:
    """One POST as the receiver saw it."""

    at: float  # time.monotonic()
    key: str | None
    action: str
    kind: str  # "initial", "full" or "?" (unparseable)


@dataclass
class Totals:
    """What the receiver acknowledged, each Idempotency-Key counted once."""

    commands: Counter[str] = field(default_factory=Counter)
    metrics: Counter[str] = field(default_factory=Counter)
    initial_reports: int = 0
    full_reports: int = 0


def report_kind(body: dict[str, Any]) -> str:
    """``initial`` when ``internals`` holds only the telemetry flag, else ``full``."""
    internals = body.get("product", {}).get("internals", {})
    return "initial" if set(internals) == {"telemetry-enabled"} else "full"


class FaultReceiver:
    """The receiver; use as a context manager (every socket closed on exit)."""

    def __init__(self, schedule: Iterable[str] = (), default: str = "202") -> None:
        self._lock = threading.Lock()
        self._schedule: list[str] = list(schedule)
        self._default = default
        self._release = threading.Event()
        self.attempts: list[Attempt] = []
        #: Idempotency-Key -> the body acknowledged under it.
        self.acknowledged: dict[str, bytes] = {}
        #: Keys seen again with a *different* body (must never happen).
        self.conflicts: list[str] = []
        #: Accepted POSTs whose key was already acknowledged (harmless resends).
        self.duplicates = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                receiver._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> FaultReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release hung requests, stop serving, close the listening socket."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/pings"

    # -- scripting ----------------------------------------------------------------------
    def script(self, actions: Iterable[str], default: str | None = None) -> None:
        """Replace the schedule (and optionally the default action)."""
        with self._lock:
            self._schedule = list(actions)
            if default is not None:
                self._default = default

    def _next_action(self) -> str:
        with self._lock:
            return self._schedule.pop(0) if self._schedule else self._default

    # -- what was seen --------------------------------------------------------------------
    def totals(self) -> Totals:
        """Acknowledged totals, every report counted once."""
        totals = Totals()
        with self._lock:
            bodies = list(self.acknowledged.values())
        for raw in bodies:
            body = json.loads(raw)
            internals = body["product"]["internals"]
            if report_kind(body) == "initial":
                totals.initial_reports += 1
                continue
            totals.full_reports += 1
            for name, entry in internals.get("commands", {}).items():
                totals.commands[name] += entry["count"]
            for name, entry in internals.get("metrics", {}).items():
                totals.metrics[name] += entry["count"]
        return totals

    def attempts_by(self, action: str) -> list[Attempt]:
        """The attempts that met ``action``."""
        with self._lock:
            return [a for a in self.attempts if a.action == action]

    # -- serving ----------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        key = handler.headers.get("Idempotency-Key")
        try:
            kind = report_kind(json.loads(raw))
        except (ValueError, AttributeError):
            kind = "?"
        action = self._next_action()
        with self._lock:
            self.attempts.append(Attempt(time.monotonic(), key, action, kind))
        if action == "reset":
            # SO_LINGER 0: close() sends an RST, the client sees "connection reset".
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            handler.close_connection = True
            handler.connection.close()
            return
        if action == "hang":
            self._release.wait(HANG_LIMIT)
            handler.close_connection = True
            return
        status, _, arg = action.partition(":")
        headers: dict[str, str] = {}
        if status == "429-date":
            status = "429"
            headers["Retry-After"] = email.utils.formatdate(time.time() + float(arg), usegmt=True)
        elif arg:
            headers["Retry-After"] = arg
        code = int(status)
        if 200 <= code < 300:
            self._accept(key, raw)
        answer = json.dumps({"status": code}).encode()
        handler.send_response(code)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _accept(self, key: str | None, raw: bytes) -> None:
        with self._lock:
            if key is None:
                # Without a key nothing can be deduplicated: keep it, under a unique name.
                key = f"(no key {len(self.acknowledged)})"
            previous = self.acknowledged.get(key)
            if previous is None:
                self.acknowledged[key] = raw
            elif previous != raw:
                self.conflicts.append(key)
            else:
                self.duplicates += 1
