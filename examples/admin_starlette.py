"""Mount the telemetry admin page and REST API in a Starlette (or FastAPI) application.

Run it::

    pip install starlette uvicorn 'otel-camunda-telemetry'
    TELEMETRY_ADMIN_PASSWORD=change-me python examples/admin_starlette.py

then open http://127.0.0.1:8000/admin/telemetry/ and log in as ``admin`` / ``change-me``.
In FastAPI the same line works: ``app.mount("/admin/telemetry", admin.asgi())``.

The admin app's ASGI adapter runs each request in a worker thread (the state store is
blocking), so the event loop never waits on it; no extra dependency is needed.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from otel_camunda_telemetry import TelemetryControl
from otel_camunda_telemetry.admin import create_admin_app, password_auth

PREFIX = "/admin/telemetry"


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(f'<p>My application. <a href="{PREFIX}/">Telemetry settings</a></p>')


def create_app(state: str | None = None, *, password: str | None = None) -> Starlette:
    """The host application, with the admin app mounted at ``/admin/telemetry``.

    With a running exporter, pass ``exporter.control`` instead of a new TelemetryControl.
    """
    password = password or os.environ["TELEMETRY_ADMIN_PASSWORD"]
    control = TelemetryControl(state=state)
    admin = create_admin_app(control, authorize=password_auth("admin", password))
    app = Starlette(routes=[Route("/", home), Mount(PREFIX, app=admin.asgi())])
    app.state.telemetry_control = control
    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8000)
