"""The authorization contract between the admin app and the application hosting it.

The host application knows its users; the admin app does not. It hands every request, as an
:class:`AdminRequest`, to a callback the host provides, and acts on the answer:

- return an :class:`AdminIdentity` (or just a user name, ``str``): the caller is known;
  reads are allowed, changes only when ``identity.can_change`` is true (else 403);
- return ``None`` or raise :class:`NotAuthenticated`: 401 (the caller must log in);
- raise :class:`Forbidden`: 403 (the caller is known but not an administrator).

Without a callback every request is refused (default deny).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AdminIdentity",
    "AdminRequest",
    "Authorize",
    "Forbidden",
    "NotAuthenticated",
]


@dataclass(frozen=True)
class AdminIdentity:
    """Who is calling, as the host application's authorization callback decided.

    Attributes:
        name: Shown in the audit log of every change ("telemetry enabled by alice").
        can_change: False for read-only users (Optimize: only superusers may toggle).

    Example:
        >>> AdminIdentity("alice").can_change
        True
    """

    name: str
    can_change: bool = True


@dataclass(frozen=True)
class AdminRequest:
    """One request to the admin app, the same whichever framework delivered it.

    Attributes:
        method: ``GET``, ``POST``, ... (upper case).
        path: The path inside the admin app (``/telemetry/configuration``).
        headers: Request headers with lower-case names.
        body: The raw request body (empty for ``GET``).
        remote_addr: The peer address as the server saw it, if known.
        native: What the framework had: the WSGI environ, the ASGI scope, or the host's own
            request object (the Django example passes its ``HttpRequest``, so the callback
            can check ``request.native.user``).
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    remote_addr: str | None = None
    native: Any = None

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def basic_credentials(self) -> tuple[str, str] | None:
        """``(user, password)`` from an ``Authorization: Basic`` header, else ``None``.

        Example:
            >>> AdminRequest("GET", "/", {"authorization": "Basic YWRtaW46czNjcmV0"}
            ...              ).basic_credentials()
            ('admin', 's3cret')
        """
        value = self.header("authorization") or ""
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep else None


class NotAuthenticated(Exception):
    """Raise from the callback for 401: the caller has not (validly) logged in.

    ``challenge`` becomes the ``WWW-Authenticate`` header, e.g. ``'Basic realm="admin"'``
    (which makes a browser ask for a user name and password).
    """

    def __init__(self, message: str = "authentication required", *, challenge: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.challenge = challenge


class Forbidden(Exception):
    """Raise from the callback for 403: the caller is known but not allowed."""

    def __init__(self, message: str = "not allowed") -> None:
        super().__init__(message)
        self.message = message


#: The callback's type: request in; identity, user name or ``None`` out (or an exception).
Authorize = Callable[[AdminRequest], AdminIdentity | str | None]
