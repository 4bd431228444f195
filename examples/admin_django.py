"""Mount the telemetry admin page and REST API in a Django project (one file, no database).

Run it::

    pip install django 'otel-camunda-telemetry'
    TELEMETRY_ADMIN_PASSWORD=change-me python examples/admin_django.py

then open http://127.0.0.1:8000/admin/telemetry/ and log in as ``admin`` / ``change-me``.

In a real project, copy :func:`telemetry_admin` into a ``views.py`` and add the ``re_path``
line to ``urls.py``. With ``django.contrib.auth``, the callback can use the logged-in
user instead of basic auth: ``request.native`` is Django's ``HttpRequest``::

    def authorize(request):
        user = request.native.user
        if not user.is_authenticated:
            return None                                   # 401
        return AdminIdentity(user.get_username(), can_change=user.is_superuser)
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from otel_camunda_telemetry import TelemetryControl
from otel_camunda_telemetry.admin import (
    AdminApp,
    AdminIdentity,
    AdminRequest,
    NotAuthenticated,
    create_admin_app,
)

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_hex(32),
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,  # this file is also the URL configuration
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )

_admin: AdminApp | None = None


def authorize(request: AdminRequest) -> AdminIdentity:
    """One administrator over HTTP basic auth (use HTTPS in production)."""
    password = os.environ["TELEMETRY_ADMIN_PASSWORD"]
    given = request.basic_credentials()
    if (
        given is not None
        and hmac.compare_digest(given[0].encode(), b"admin")
        and hmac.compare_digest(given[1].encode(), password.encode())
    ):
        return AdminIdentity("admin")
    raise NotAuthenticated(challenge='Basic realm="telemetry admin"')


def setup(state: str | None = None) -> AdminApp:
    """Build the admin app (once, at start). With a running exporter use its ``.control``."""
    global _admin
    _admin = create_admin_app(TelemetryControl(state=state), authorize=authorize)
    return _admin


@csrf_exempt  # the admin app accepts only application/json bodies, which forms cannot send
def telemetry_admin(request: HttpRequest, rest: str | None = None) -> HttpResponse:
    """Hand the request to the admin app and turn its answer into a Django response."""
    admin = _admin or setup()
    if not rest:  # /admin/telemetry -> /admin/telemetry/ (the page uses relative links)
        response = HttpResponse(status=308)
        response["Location"] = request.path + "/"
        return response
    answer = admin.handle(
        AdminRequest(
            method=request.method or "GET",
            path=rest,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=request.body,
            remote_addr=request.META.get("REMOTE_ADDR"),
            native=request,
        )
    )
    response = HttpResponse(answer.body, status=answer.status.value)
    for name, value in answer.all_headers():
        if name.lower() != "content-length":
            response[name] = value
    return response


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse('<p>My application. <a href="/admin/telemetry/">Telemetry settings</a></p>')


urlpatterns = [
    re_path(r"^admin/telemetry(?P<rest>/.*)?$", telemetry_admin),
    re_path(r"^$", home),
]


if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    setup()
    execute_from_command_line([sys.argv[0], "runserver", "127.0.0.1:8000", "--noreload"])
