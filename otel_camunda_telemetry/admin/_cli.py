"""``otel-camunda-telemetry admin``: serve the admin page standalone, for one state store.

For installations without a web application of their own to mount the admin app in. It binds
to loopback by default and asks for HTTP basic auth: user ``admin`` (``--user``), password
from ``TELEMETRY_ADMIN_PASSWORD`` or, when unset, a random one printed at start.
"""

from __future__ import annotations

import argparse
import hmac
import os
import secrets
import socketserver
import sys
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .._config import Settings
from .._control import TelemetryControl
from ._app import AdminApp, create_admin_app
from ._auth import AdminIdentity, AdminRequest, Authorize, NotAuthenticated

__all__ = ["AdminServer", "add_admin_command", "password_auth"]


def password_auth(user: str, password: str) -> Authorize:
    """An authorize callback for one administrator over HTTP basic auth.

    Example:
        >>> authorize = password_auth("admin", "s3cret")
        >>> authorize(AdminRequest("GET", "/", {"authorization": "Basic YWRtaW46czNjcmV0"}))
        AdminIdentity(name='admin', can_change=True)
    """

    def authorize(request: AdminRequest) -> AdminIdentity:
        given = request.basic_credentials()
        # compare_digest: no timing side channel on the password.
        if (
            given is not None
            and hmac.compare_digest(given[0].encode(), user.encode())
            and hmac.compare_digest(given[1].encode(), password.encode())
        ):
            return AdminIdentity(given[0])
        raise NotAuthenticated(challenge='Basic realm="telemetry admin"')

    return authorize


class _QuietHandler(WSGIRequestHandler):
    timeout = 30.0  # a stalled client loses its thread after this

    def log_message(self, format: str, *args: Any) -> None:
        pass  # wsgiref would print client addresses to stderr


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = False
    block_on_close = True


class AdminServer:
    """The admin app on a threaded ``wsgiref`` server, started and stopped by ``with``.

    Example:
        >>> import tempfile, urllib.request
        >>> control = TelemetryControl(state=tempfile.mkdtemp() + "/state.db")
        >>> with AdminServer(create_admin_app(control, authorize=lambda r: "ops")) as server:
        ...     with urllib.request.urlopen(server.url + "telemetry/configuration") as reply:
        ...         reply.read()
        b'{\\n  "enableTelemetry": null\\n}'
        >>> control.close()
    """

    def __init__(self, app: AdminApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread: threading.Thread | None = None
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self._server.server_port}/"

    def __enter__(self) -> AdminServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted."""
        self._server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(30)
            self._thread = None
        self._server.server_close()


def add_admin_command(sub: Any) -> None:
    """Register ``admin`` on the CLI's subparsers."""
    parser = sub.add_parser(
        "admin",
        help="serve the admin page and REST API for this state (loopback by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--state", help="state store (default: CAMUNDA_TELEMETRY_STATE)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8090, help="port; 0 picks one (default: %(default)s)"
    )
    parser.add_argument("--user", default="admin", help="basic auth user (default: %(default)s)")
    parser.set_defaults(run=run_admin)


def run_admin(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; exit code 0."""
    password = os.environ.get("TELEMETRY_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    control = TelemetryControl(settings=Settings.resolve(state=args.state))
    try:
        app = create_admin_app(control, authorize=password_auth(args.user, password))
        server = AdminServer(app, args.host, args.port)
        print(f"telemetry admin on {server.url} (user {args.user!r})", flush=True)
        if "TELEMETRY_ADMIN_PASSWORD" not in os.environ:
            print(f"password: {password}  (set TELEMETRY_ADMIN_PASSWORD to choose one)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
        finally:
            server.stop()
    finally:
        control.close()
    return 0
