"""Administration of telemetry for the application that embeds the library.

Camunda lets administrators see and toggle telemetry in its Admin webapp and over REST; this
subpackage gives the host application the same: a WSGI application (with an ASGI adapter)
serving ``GET``/``POST /telemetry/configuration``, ``GET /telemetry/data`` and a small page
at ``/``. Mount it in Flask, Django or Starlette/FastAPI (see ``examples/``).

Authorization is the host's: pass ``authorize``, a callback that gets an
:class:`AdminRequest` and returns an :class:`AdminIdentity` (or a user name) for a known
caller, returns ``None`` or raises :class:`NotAuthenticated` for 401, or raises
:class:`Forbidden` for 403. Without it every request is refused. Identities with
``can_change=False`` may read but not change (403). Every change is logged at INFO on
``otel_camunda_telemetry.admin`` with the identity's name.

Without a web application to mount it in, :class:`AdminServer` serves it standalone, as the
``otel-camunda-telemetry admin`` command does (:func:`add_admin_command`).

Example:
    >>> import tempfile
    >>> from otel_camunda_telemetry import TelemetryControl
    >>> control = TelemetryControl(state=tempfile.mkdtemp() + "/state.db")
    >>> def authorize(request: AdminRequest) -> AdminIdentity | None:
    ...     if request.basic_credentials() == ("admin", "s3cret"):
    ...         return AdminIdentity("admin")
    ...     if request.basic_credentials() == ("viewer", "s3cret"):
    ...         return AdminIdentity("viewer", can_change=False)
    ...     raise NotAuthenticated(challenge='Basic realm="telemetry"')
    >>> app = create_admin_app(control, authorize=authorize)  # a WSGI app; .asgi() for ASGI
    >>> app.handle(AdminRequest("GET", "/telemetry/configuration")).status
    <HTTPStatus.UNAUTHORIZED: 401>
    >>> control.close()
"""

from ._app import MAX_BODY_BYTES, AdminApp, AdminResponse, create_admin_app
from ._asgi import AsgiAdminApp
from ._auth import AdminIdentity, AdminRequest, Authorize, Forbidden, NotAuthenticated
from ._cli import AdminServer, add_admin_command, password_auth

__all__ = [
    "MAX_BODY_BYTES",
    "AdminApp",
    "AdminIdentity",
    "AdminRequest",
    "AdminResponse",
    "AdminServer",
    "AsgiAdminApp",
    "Authorize",
    "Forbidden",
    "NotAuthenticated",
    "add_admin_command",
    "create_admin_app",
    "password_auth",
]
