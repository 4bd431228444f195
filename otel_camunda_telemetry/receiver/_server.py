"""The built-in way to run the receiver: a threaded ``wsgiref`` server.

Production deployments may host :func:`create_app` under gunicorn or waitress instead; this
server is enough for one machine, the demo and tests. Unlike plain ``wsgiref`` it never
prints client addresses (request and error logs go to the library logger without them).
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import threading
import time
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ._app import ReceiverApp, create_app
from ._storage import ReportStore

__all__ = ["ReceiverServer"]

_log = logging.getLogger("otel_camunda_telemetry.receiver")

_SOCKET_TIMEOUT = 30.0  # a client that stalls mid-request loses its thread after this
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1 << 20


class _QuietHandler(WSGIRequestHandler):
    """Request handler that logs without the client address (privacy) and times out."""

    timeout = _SOCKET_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("http: " + format, *args)

    def get_stderr(self) -> Any:
        # wsgiref writes application tracebacks here; route them to the logger instead.
        return _LogWriter()


class _LogWriter:
    """File-like sink collecting one traceback (wsgiref writes it, then flushes)."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def flush(self) -> None:
        text, self._parts = "".join(self._parts).rstrip(), []
        if text:
            _log.warning("receiver server error: %s", text)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    # Non-daemon threads, joined on close, so that stop() never closes the store under a
    # request still being written; the socket timeout bounds how long that can take.
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints the client address to stderr; a client hanging up is routine.
        _log.debug("connection error while serving a request", exc_info=True)

    def shutdown_request(self, request: Any) -> None:
        # Lingering close: after the response, read (and drop) what the client still sends,
        # briefly, so that refusing an oversized body ends in FIN rather than RST, which
        # could destroy the 413 before the client reads it.
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(_LINGER_SECONDS)
            deadline = time.monotonic() + _LINGER_SECONDS
            drained = 0
            while drained < _LINGER_BYTES and time.monotonic() < deadline:
                data = request.recv(64 * 1024)
                if not data:
                    break
                drained += len(data)
        except OSError:
            pass
        self.close_request(request)


class ReceiverServer:
    """Serve the receiver on a background thread; a context manager.

    The socket is bound when the object is made (``port=0`` picks a free port) and
    requests are served until :meth:`stop`.

    Example:
        >>> import tempfile
        >>> with ReceiverServer(db=tempfile.mkdtemp() + "/r.sqlite3") as server:
        ...     server.url.startswith("http://127.0.0.1:") and server.url.endswith("/pings")
        True

    Attributes:
        app: The WSGI application (``app.store`` holds what was received).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        db: str | os.PathLike[str] | ReportStore | None = None,
        app: ReceiverApp | None = None,
        **app_options: Any,
    ) -> None:
        if (db is None) == (app is None):
            raise ValueError("give exactly one of db= or app=")
        self.app = app if app is not None else create_app(db, **app_options)  # type: ignore[arg-type]
        self._owns_app = app is None
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            server_class = type("_Server", (_ThreadingWSGIServer,), {"address_family": family})
            self._httpd = server_class((host, port), _QuietHandler)
        except BaseException:
            if self._owns_app:
                self.app.close()
            raise
        self._httpd.set_app(self.app)
        self._stopped = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otel-camunda-telemetry-receiver",
            daemon=True,
        )
        self._thread.start()

    @property
    def host(self) -> str:
        """The bound host address."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://host:port`` without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The endpoint reporters post to: ``<base_url>/pings``."""
        return f"{self.base_url}/pings"

    @property
    def store(self) -> ReportStore:
        """What was received (``store.reports()``, ``store.count()``)."""
        return self.app.store

    def reports(self) -> list[dict[str, Any]]:
        """The bodies of the stored reports, oldest first."""
        return [report.body for report in self.store.reports()]

    def serve_until(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set (or KeyboardInterrupt), then stop serving."""
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting, finish requests in flight, close the store. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._thread.join()
        self._httpd.server_close()
        if self._owns_app:
            self.app.close()

    def __enter__(self) -> ReceiverServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ReceiverServer({self.url!r})"
