"""The admin app for ASGI hosts (Starlette, FastAPI), with no dependency beyond asyncio.

The state store is blocking (SQLite, psycopg), so each request runs in a worker thread and
the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from ._app import MAX_BODY_BYTES, AdminApp, AdminResponse, _error
from ._auth import AdminRequest

__all__ = ["AsgiAdminApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class AsgiAdminApp:
    """ASGI application around an :class:`AdminApp`; get it from ``AdminApp.asgi()`` or
    :func:`create_admin_app(...).asgi() <create_admin_app>`.

    Example (Starlette or FastAPI)::

        from starlette.routing import Mount
        routes = [Mount("/admin/telemetry", app=create_admin_app(control, authorize=f).asgi())]

    The authorize callback gets ``request.native`` = the ASGI scope.
    """

    def __init__(self, app: AdminApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI ``http`` request (lifespan events are acknowledged)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"the telemetry admin app serves HTTP only, not {scope['type']}")
        path = scope.get("path", "/")
        root = scope.get("root_path", "")
        # ASGI paths include root_path (Starlette's Mount keeps it there): strip it.
        if root and path.startswith(root):
            path = path[len(root) :]
        if path == "":
            await _respond(
                send,
                AdminResponse(HTTPStatus.PERMANENT_REDIRECT, headers=(("Location", root + "/"),)),
            )
            return
        body, too_large = await _read_body(receive)
        if too_large:
            response = _error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY_BYTES} bytes"
            )
        else:
            headers: dict[str, str] = {}
            for name, value in scope.get("headers", []):
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            client = scope.get("client")
            request = AdminRequest(
                method=scope.get("method", "GET").upper(),
                path=path,
                headers=headers,
                body=body,
                remote_addr=client[0] if client else None,
                native=scope,
            )
            response = await asyncio.to_thread(self.app.handle, request)
        await _respond(send, response)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            too_large = True  # keep draining, but stop keeping
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), too_large


async def _respond(send: Send, response: AdminResponse) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status.value,
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in response.all_headers()
            ],
        }
    )
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
