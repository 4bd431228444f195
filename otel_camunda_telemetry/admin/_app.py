"""The admin app: Camunda's telemetry REST resources and a small page, as a WSGI application.

Routes, relative to where the app is mounted:

============================  ======  =====================================================
``/``                         GET     the admin page (HTML, inline script and style only)
``/telemetry/configuration``  GET     ``{"enableTelemetry": true|false|null}``
``/telemetry/configuration``  POST    ``{"enableTelemetry": bool}`` -> 204
``/telemetry/data``           GET     the report that would be sent now (nothing is reset)
``/telemetry/status``         GET     installation id, schedule, outbox (what the page shows)
``/telemetry/license-key``    PUT     ``{"licenseKey": str, "structured": bool?}`` -> 204
``/telemetry/license-key``    DELETE  remove the key -> 204
============================  ======  =====================================================

Checks run in this order: route (404), authorization (401/403), method (405), permission to
change (403), content type (415), size (413), body (400). Errors are JSON:
``{"error": <reason phrase>, "message": <what to fix>}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Any

from .._control import TelemetryControl
from ._auth import AdminIdentity, AdminRequest, Authorize, Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from ._asgi import AsgiAdminApp

__all__ = ["MAX_BODY_BYTES", "AdminApp", "AdminResponse", "create_admin_app"]

_log = logging.getLogger("otel_camunda_telemetry.admin")

#: Largest accepted request body (a license key is well below it).
MAX_BODY_BYTES = 16 * 1024

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class AdminResponse:
    """What the app answers, before any framework turns it into its own response."""

    status: HTTPStatus
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def status_line(self) -> str:
        """``"204 No Content"``, as WSGI wants it."""
        return f"{self.status.value} {self.status.phrase}"

    def all_headers(self) -> list[tuple[str, str]]:
        """Every response header, the security headers included."""
        headers = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
        if self.status is not HTTPStatus.NO_CONTENT:
            headers += [
                ("Content-Type", self.content_type),
                ("Content-Length", str(len(self.body))),
            ]
        return headers + list(self.headers)


class _Stop(Exception):
    """Ends a request early with the response it carries."""

    def __init__(self, response: AdminResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _json(status: HTTPStatus, payload: Any, *headers: tuple[str, str]) -> AdminResponse:
    return AdminResponse(status, json.dumps(payload, indent=2).encode("utf-8"), headers=headers)


def _error(status: HTTPStatus, message: str, *headers: tuple[str, str]) -> AdminResponse:
    return _json(status, {"error": status.phrase, "message": message}, *headers)


_NO_CONTENT = AdminResponse(HTTPStatus.NO_CONTENT)
Handler = Callable[[AdminRequest, AdminIdentity], AdminResponse]


class AdminApp:
    """WSGI callable serving the admin REST API and page; build it with
    :func:`create_admin_app`. :meth:`handle` is the framework-neutral core (the ASGI adapter
    and the Django example call it directly)."""

    def __init__(
        self, control: TelemetryControl, *, authorize: Authorize | None = None, prefix: str = ""
    ) -> None:
        self.control = control
        self._authorize = authorize
        self._prefix = prefix.rstrip("/")
        self._page: AdminResponse | None = None
        if authorize is None:
            _log.warning("telemetry admin app has no authorize callback: every request is refused")
        # path -> method -> (handler, changes state)
        self._routes: dict[str, dict[str, tuple[Handler, bool]]] = {
            "/": {"GET": (self._get_page, False)},
            "/telemetry/configuration": {
                "GET": (self._get_configuration, False),
                "POST": (self._post_configuration, True),
            },
            "/telemetry/data": {"GET": (self._get_data, False)},
            "/telemetry/status": {"GET": (self._get_status, False)},
            "/telemetry/license-key": {
                "PUT": (self._put_license_key, True),
                "DELETE": (self._delete_license_key, True),
            },
        }

    # -- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request (the WSGI entry point)."""
        path = environ.get("PATH_INFO", "")
        if path == "" and environ.get("SCRIPT_NAME"):
            # Mounted at /admin and asked for /admin: the page's relative links need the slash.
            location = environ["SCRIPT_NAME"] + "/"
            start_response(
                "308 Permanent Redirect", [("Location", location), ("Content-Length", "0")]
            )
            return [b""]
        try:
            body = _read_wsgi_body(environ)
        except _Stop as stop:
            response = stop.response
        else:
            headers = {
                key[5:].replace("_", "-").lower(): str(value)
                for key, value in environ.items()
                if key.startswith("HTTP_")
            }
            if environ.get("CONTENT_TYPE"):
                headers["content-type"] = environ["CONTENT_TYPE"]
            request = AdminRequest(
                method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
                path=path or "/",
                headers=headers,
                body=body,
                remote_addr=environ.get("REMOTE_ADDR"),
                native=environ,
            )
            response = self.handle(request)
        start_response(response.status_line, response.all_headers())
        return [response.body]

    # -- the core ---------------------------------------------------------------------------
    def handle(self, request: AdminRequest) -> AdminResponse:
        """Answer one request; never raises."""
        path = request.path
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix) :] or "/"
        methods = self._routes.get(path)
        if methods is None:
            return _error(HTTPStatus.NOT_FOUND, f"no resource at {path}")
        try:
            identity = self._identify(request)
            route = methods.get(request.method)
            if route is None:
                allow = ", ".join(methods)
                return _error(HTTPStatus.METHOD_NOT_ALLOWED, f"use {allow}", ("Allow", allow))
            handler, changes = route
            if changes and not identity.can_change:
                return _error(HTTPStatus.FORBIDDEN, f"{identity.name} may not change telemetry")
            return handler(request, identity)
        except _Stop as stop:
            return stop.response
        except Exception:
            # A state store outage: the caller may retry; the details go to the log only.
            _log.warning("telemetry admin failed on %s %s", request.method, path, exc_info=True)
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "the telemetry state is unavailable")

    def _identify(self, request: AdminRequest) -> AdminIdentity:
        if self._authorize is None:
            raise _Stop(_error(HTTPStatus.FORBIDDEN, "no authorization configured (default deny)"))
        try:
            answer = self._authorize(request)
        except NotAuthenticated as exc:
            challenge = (("WWW-Authenticate", exc.challenge),) if exc.challenge else ()
            raise _Stop(_error(HTTPStatus.UNAUTHORIZED, exc.message, *challenge)) from None
        except Forbidden as exc:
            raise _Stop(_error(HTTPStatus.FORBIDDEN, exc.message)) from None
        except Exception:
            _log.warning("telemetry admin authorize callback failed", exc_info=True)
            raise _Stop(_error(HTTPStatus.INTERNAL_SERVER_ERROR, "authorization failed")) from None
        if answer is None:
            raise _Stop(_error(HTTPStatus.UNAUTHORIZED, "authentication required"))
        return AdminIdentity(answer) if isinstance(answer, str) else answer

    # -- resources --------------------------------------------------------------------------
    def _get_configuration(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        return _json(HTTPStatus.OK, {"enableTelemetry": self.control.status().enabled})

    def _post_configuration(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        data = _json_body(request)
        enabled = data.get("enableTelemetry") if isinstance(data, dict) else None
        if (
            not isinstance(data, dict)
            or set(data) != {"enableTelemetry"}
            or not isinstance(enabled, bool)
        ):
            raise _Stop(_error(HTTPStatus.BAD_REQUEST, 'expected {"enableTelemetry": true|false}'))
        before = self.control.status().enabled
        self.control.toggle(enabled)
        _log.info(
            "telemetry %s by %s (was %s)",
            "enabled" if enabled else "disabled",
            who.name,
            {None: "undecided", True: "enabled", False: "disabled"}[before],
        )
        return _NO_CONTENT

    def _get_data(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        return _json(HTTPStatus.OK, self.control.preview())

    def _get_status(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        status = self.control.status().to_json()
        status["user"] = {"name": who.name, "canChange": who.can_change}
        return _json(HTTPStatus.OK, status)

    def _put_license_key(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        data = _json_body(request)
        if (
            not isinstance(data, dict)
            or not set(data) <= {"licenseKey", "structured"}
            or not isinstance(data.get("licenseKey"), str)
            or not data["licenseKey"].strip()
            or not isinstance(data.get("structured", False), bool)
        ):
            raise _Stop(
                _error(HTTPStatus.BAD_REQUEST, 'expected {"licenseKey": str, "structured": bool}')
            )
        try:
            self.control.set_license_key(
                data["licenseKey"], structured=data.get("structured", False)
            )
        except ValueError as exc:
            raise _Stop(_error(HTTPStatus.BAD_REQUEST, f"invalid license key: {exc}")) from None
        _log.info("telemetry license key set by %s", who.name)
        return _NO_CONTENT

    def _delete_license_key(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        self.control.remove_license_key()
        _log.info("telemetry license key removed by %s", who.name)
        return _NO_CONTENT

    def asgi(self) -> AsgiAdminApp:
        """This app as an ASGI application (for Starlette and FastAPI)."""
        from ._asgi import AsgiAdminApp

        return AsgiAdminApp(self)

    def _get_page(self, request: AdminRequest, who: AdminIdentity) -> AdminResponse:
        if self._page is None:
            self._page = _load_page()
        return self._page


def create_admin_app(
    control: TelemetryControl, *, authorize: Authorize | None = None, prefix: str = ""
) -> AdminApp:
    """The admin REST API and page as a WSGI application.

    Args:
        control: Whose consent to show and change, e.g. ``exporter.control`` or
            ``TelemetryControl(state=...)``.
        authorize: Decides who may do what (see :mod:`otel_camunda_telemetry.admin`);
            without it every request is refused with 403.
        prefix: A path prefix to strip, for hosts that pass the full path (most mounts set
            ``SCRIPT_NAME`` and need none).

    Example:
        >>> import tempfile
        >>> from otel_camunda_telemetry import TelemetryControl
        >>> control = TelemetryControl(state=tempfile.mkdtemp() + "/state.db")
        >>> def authorize(request):
        ...     if request.header("x-admin-token") != "s3cret":
        ...         raise NotAuthenticated()
        ...     return AdminIdentity("ops")
        >>> app = create_admin_app(control, authorize=authorize)
        >>> app.handle(AdminRequest("GET", "/telemetry/configuration")).status
        <HTTPStatus.UNAUTHORIZED: 401>
        >>> app.handle(AdminRequest("POST", "/telemetry/configuration",
        ...     {"x-admin-token": "s3cret", "content-type": "application/json"},
        ...     b'{"enableTelemetry": true}')).status
        <HTTPStatus.NO_CONTENT: 204>
        >>> control.close()
    """
    return AdminApp(control, authorize=authorize, prefix=prefix)


def _read_wsgi_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _Stop(_error(HTTPStatus.BAD_REQUEST, "bad Content-Length")) from None
    if length > MAX_BODY_BYTES:
        raise _Stop(_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY_BYTES} bytes"))
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _json_body(request: AdminRequest) -> Any:
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    # Only JSON: a cross-site HTML form cannot send it without a CORS preflight (CSRF guard).
    if content_type != "application/json":
        raise _Stop(_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json"))
    if len(request.body) > MAX_BODY_BYTES:
        raise _Stop(_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY_BYTES} bytes"))
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Stop(_error(HTTPStatus.BAD_REQUEST, f"malformed JSON: {exc}")) from None


def _load_page() -> AdminResponse:
    html = resources.files(__package__ or "otel_camunda_telemetry.admin").joinpath("page.html")
    body = html.read_bytes()
    text = body.decode("utf-8")
    # A strict CSP that still lets the page's own inline script and style run: their hashes.
    hashes = {
        tag: " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
            for m in re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)
        )
        for tag in ("script", "style")
    }
    csp = (
        "default-src 'none'; connect-src 'self'; img-src 'self' data:; "
        f"script-src {hashes['script']}; style-src {hashes['style']}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return AdminResponse(
        HTTPStatus.OK,
        body,
        "text/html; charset=utf-8",
        (("Content-Security-Policy", csp), ("X-Frame-Options", "DENY")),
    )
