"""The receiver as a WSGI application: ``POST /pings``, ``GET /``, ``GET /api/summary``.

Checks run cheapest first, and nothing is stored unless every one passes: route and method
(404/405), rate limit (429), content type (415), declared size (413, decided from the
``Content-Length`` header before any body byte is read), JSON (400), schema (422).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from ._dashboard import render_dashboard
from ._flagging import FlagPolicy
from ._privacy import IpHasher, load_or_create_secret
from ._ratelimit import RateLimit, RateLimiter
from ._storage import NewReport, ReportStore, SQLiteReportStore, open_store
from ._summary import summarize
from ._validation import ReportValidationError, check_schemas, validate_report

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ReceiverApp", "create_app"]

_log = logging.getLogger("otel_camunda_telemetry.receiver")

#: Largest accepted report body; a full engine report is a few KiB.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
_MAX_IDEMPOTENCY_KEY = 200
_READ_CHUNK = 16 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Environ = dict[str, Any]


@dataclass(frozen=True)
class _Reply:
    status: HTTPStatus
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: HTTPStatus, payload: dict[str, Any], *headers: tuple[str, str]) -> _Reply:
    return _Reply(status, json.dumps(payload).encode("utf-8"), headers=headers)


def _error(status: HTTPStatus, message: str, *headers: tuple[str, str], **extra: Any) -> _Reply:
    return _json(status, {"error": status.phrase, "message": message, **extra}, *headers)


class _Rejected(Exception):
    """Ends a request early with the reply it carries."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class ReceiverApp:
    """WSGI callable; build it with :func:`create_app`.

    Attributes:
        store: Where accepted reports go (read it in tests: ``app.store.reports()``).
    """

    def __init__(
        self,
        store: ReportStore,
        hasher: IpHasher,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        rate_limit: RateLimit | None = RateLimit(),  # noqa: B008 (immutable value object)
        flag_policy: FlagPolicy = FlagPolicy(),  # noqa: B008
        forwarded_hops: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_body_bytes < 1 or forwarded_hops < 0:
            raise ValueError("max_body_bytes must be positive and forwarded_hops >= 0")
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.flag_policy = flag_policy
        self._hasher = hasher
        self._limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        self._forwarded_hops = forwarded_hops
        self._clock = clock
        self._routes: dict[str, dict[str, Callable[[Environ], _Reply]]] = {
            "/pings": {"POST": self._ingest},
            "/": {"GET": self._dashboard},
            "/api/summary": {"GET": self._summary},
            "/healthz": {"GET": lambda environ: _json(HTTPStatus.OK, {"status": "ok"})},
        }

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request (the WSGI entry point)."""
        reply = self._dispatch(environ)
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *reply.headers,
        ]
        start_response(f"{reply.status.value} {reply.status.phrase}", headers)
        return [reply.body]

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def summary(self) -> dict[str, Any]:
        """The dashboard's data, as served by ``GET /api/summary``."""
        return summarize(self.store.reports(), now=self._clock())

    def _dispatch(self, environ: Environ) -> _Reply:
        path = environ.get("PATH_INFO") or "/"
        methods = self._routes.get(path)
        if methods is None:
            return _error(HTTPStatus.NOT_FOUND, f"no resource at {path}")
        handler = methods.get(environ.get("REQUEST_METHOD", "GET"))
        if handler is None:
            allow = ", ".join(methods)
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, f"use {allow}", ("Allow", allow))
        try:
            return handler(environ)
        except _Rejected as rejected:
            return rejected.reply
        except Exception:
            # A storage outage must not look like a bad report: 503 makes senders retry.
            _log.warning(
                "receiver failed to handle %s %s",
                environ.get("REQUEST_METHOD"),
                path,
                exc_info=True,
            )
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "try again later", ("Retry-After", "5"))

    # -- POST /pings ---------------------------------------------------------------------

    def _ingest(self, environ: Environ) -> _Reply:
        ip_hash = self._hasher(self._client_address(environ))
        if self._limiter is not None and (wait := self._limiter.acquire(ip_hash)):
            _log.debug("rate limited client %s for %ss", ip_hash[:12], wait)
            raise _Rejected(
                _error(HTTPStatus.TOO_MANY_REQUESTS, "slow down", ("Retry-After", str(wait)))
            )
        _check_content_type(environ.get("CONTENT_TYPE", ""))
        key = _idempotency_key(environ.get("HTTP_IDEMPOTENCY_KEY"))
        raw = self._read_body(environ)
        report = _decode(raw)
        try:
            kind = validate_report(report)
        except ReportValidationError as exc:
            _log.debug("rejected invalid %s report at %s", exc.kind, exc.path)
            raise _Rejected(
                _error(HTTPStatus.UNPROCESSABLE_ENTITY, exc.message, kind=exc.kind, path=exc.path)
            ) from None
        product = report["product"]
        result = self.store.add(
            NewReport(
                received_at=self._clock(),
                kind=kind,
                installation=report["installation"],
                product_name=product["name"],
                product_version=product["version"],
                product_edition=product["edition"],
                ip_hash=ip_hash,
                idempotency_key=key,
                body=raw.decode("utf-8"),
            ),
            self.flag_policy,
        )
        _log.debug(
            "%s %s report %s from installation %s (client %s)%s",
            result.status,
            kind,
            result.id,
            report["installation"],
            ip_hash[:12],
            f", flagged {result.flagged}" if result.flagged else "",
        )
        status = "accepted" if result.status == "stored" else "duplicate"
        return _json(HTTPStatus.ACCEPTED, {"status": status})

    def _client_address(self, environ: Environ) -> str:
        address = str(environ.get("REMOTE_ADDR", ""))
        if self._forwarded_hops:
            # Only the entries our own proxies appended can be trusted: count from the right.
            forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            forwarded = [a for a in forwarded if a]
            if len(forwarded) >= self._forwarded_hops:
                address = forwarded[-self._forwarded_hops]
        return address

    def _read_body(self, environ: Environ) -> bytes:
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH") or ""
        if not declared:
            # Only servers that de-chunk for us (wsgi.input_terminated) can give a body
            # without a length; read one byte past the limit to know it was exceeded.
            if not environ.get("wsgi.input_terminated"):
                raise _Rejected(_error(HTTPStatus.LENGTH_REQUIRED, "send Content-Length"))
            body = cast(bytes, stream.read(self.max_body_bytes + 1))
            if len(body) > self.max_body_bytes:
                raise _Rejected(self._too_large())
            return body
        try:
            length = int(declared)
        except ValueError:
            raise _Rejected(_error(HTTPStatus.BAD_REQUEST, "bad Content-Length")) from None
        if length < 0:
            raise _Rejected(_error(HTTPStatus.BAD_REQUEST, "bad Content-Length"))
        if length > self.max_body_bytes:
            raise _Rejected(self._too_large())
        chunks, remaining = [], length
        while remaining:
            chunk = cast(bytes, stream.read(min(remaining, _READ_CHUNK)))
            if not chunk:
                raise _Rejected(_error(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length"))
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _too_large(self) -> _Reply:
        return _error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"body exceeds {self.max_body_bytes} bytes",
            limit=self.max_body_bytes,
        )

    # -- GET / and /api/summary ------------------------------------------------------------

    def _summary(self, environ: Environ) -> _Reply:
        return _json(HTTPStatus.OK, self.summary())

    def _dashboard(self, environ: Environ) -> _Reply:
        page = render_dashboard(self.summary()).encode("utf-8")
        csp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
        return _Reply(
            HTTPStatus.OK, page, "text/html; charset=utf-8", (("Content-Security-Policy", csp),)
        )


def _check_content_type(value: str) -> None:
    media, *params = (part.strip() for part in value.split(";"))
    charset = "utf-8"
    for param in params:
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip('"').lower()
    if media.lower() != "application/json" or charset not in {"utf-8", "utf8"}:
        raise _Rejected(
            _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json (UTF-8)")
        )


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
        raise _Rejected(
            _error(
                HTTPStatus.BAD_REQUEST,
                f"Idempotency-Key must be 1-{_MAX_IDEMPOTENCY_KEY} ASCII characters",
            )
        )
    return key


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        report = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Rejected(_error(HTTPStatus.BAD_REQUEST, f"malformed JSON: {exc}")) from None
    if not isinstance(report, dict):
        raise _Rejected(
            _error(HTTPStatus.UNPROCESSABLE_ENTITY, "a report is a JSON object", path="$")
        )
    return report


def default_secret_path(db: str | os.PathLike[str]) -> Path:
    """Where the IP-hashing secret of a SQLite database lives by default: ``<db>.secret``."""
    return Path(f"{os.fspath(db)}.secret")


def create_app(
    db: str | os.PathLike[str] | ReportStore,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    rate_limit: RateLimit | None = RateLimit(),  # noqa: B008
    flag_policy: FlagPolicy = FlagPolicy(),  # noqa: B008
    secret: bytes | None = None,
    secret_file: str | os.PathLike[str] | None = None,
    forwarded_hops: int = 0,
    clock: Callable[[], float] = time.time,
) -> ReceiverApp:
    """Build the receiver's WSGI application.

    Args:
        db: A SQLite file path (created if missing), a ``postgresql://`` URL (the
            ``[postgres]`` extra), or any :class:`ReportStore`.
        max_body_bytes: Larger bodies get 413 without being read.
        rate_limit: Per hashed client IP; ``None`` disables limiting.
        flag_policy: When reports are flagged as too frequent.
        secret: The IP-hashing key; by default read from (or created in) ``secret_file``.
        secret_file: Defaults to ``<db>.secret`` next to a SQLite file; a PostgreSQL
            store keeps the key in its database instead.
        forwarded_hops: Behind N trusted reverse proxies, take the client address from the
            N-th ``X-Forwarded-For`` entry counted from the right; 0 uses the socket peer.
        clock: Seconds since the epoch, for received times.

    Example:
        >>> import tempfile
        >>> app = create_app(tempfile.mkdtemp() + "/reports.sqlite3")
        >>> app.store.count()
        0
        >>> app.close()
    """
    check_schemas()
    store = db if isinstance(db, ReportStore) else open_store(db)
    try:
        if secret is None:
            shared_secret = getattr(store, "shared_secret", None)
            if secret_file is None and callable(shared_secret):
                # A database server backend keeps the key itself, so that every receiver
                # sharing the database hashes a client address to the same value.
                secret = shared_secret()
            else:
                if secret_file is None:
                    if not isinstance(store, SQLiteReportStore):
                        raise ValueError("give secret or secret_file for this store")
                    secret_file = default_secret_path(store.path)
                secret = load_or_create_secret(secret_file)
        return ReceiverApp(
            store,
            IpHasher(secret),
            max_body_bytes=max_body_bytes,
            rate_limit=rate_limit,
            flag_policy=flag_policy,
            forwarded_hops=forwarded_hops,
            clock=clock,
        )
    except BaseException:
        if store is not db:
            store.close()
        raise
