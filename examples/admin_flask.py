"""Mount the telemetry admin page and REST API in a Flask application.

Run it::

    pip install flask 'otel-camunda-telemetry'
    TELEMETRY_ADMIN_PASSWORD=change-me python examples/admin_flask.py

then open http://127.0.0.1:5000/admin/telemetry/ and log in as ``admin`` / ``change-me``.
The REST API is under the same prefix::

    curl -u admin:change-me http://127.0.0.1:5000/admin/telemetry/telemetry/configuration
    curl -u admin:change-me -H 'Content-Type: application/json' \
         -d '{"enableTelemetry": true}' http://127.0.0.1:5000/admin/telemetry/telemetry/configuration
"""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from otel_camunda_telemetry import TelemetryControl
from otel_camunda_telemetry.admin import create_admin_app, password_auth

PREFIX = "/admin/telemetry"


def create_app(state: str | None = None, *, password: str | None = None) -> Flask:
    """The host application, with the admin app mounted at ``/admin/telemetry``.

    With a running exporter, pass ``exporter.control`` instead of a new TelemetryControl.
    """
    password = password or os.environ["TELEMETRY_ADMIN_PASSWORD"]
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        return f'<p>My application. <a href="{PREFIX}/">Telemetry settings</a></p>'

    control = TelemetryControl(state=state)  # state: CAMUNDA_TELEMETRY_STATE by default
    admin = create_admin_app(control, authorize=password_auth("admin", password))
    # Werkzeug's dispatcher sets SCRIPT_NAME=/admin/telemetry and PATH_INFO to the rest.
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {PREFIX: admin})  # type: ignore[method-assign]
    app.extensions["telemetry_control"] = control
    return app


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=5000)
