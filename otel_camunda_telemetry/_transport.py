"""HTTP out (SPEC section 4). The only module that talks to ``requests``.

Every outcome is classified, never raised: ``ok`` (any 2xx), ``retry`` (429, 5xx, network
errors, timeouts; with the server's ``Retry-After`` when it gave one) or ``drop`` (any other
status: the receiver refused this report and will refuse it again).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit

from ._version import __version__

if TYPE_CHECKING:  # requests costs ~30 ms to import: load it when the first report goes out
    import requests

_logger = logging.getLogger("otel_camunda_telemetry")

USER_AGENT = f"otel-camunda-telemetry/{__version__}"
#: Bytes of a response body read at most (the answer is only logged, never trusted).
MAX_RESPONSE_BYTES = 64 * 1024

#: ``skipped``: no attempt was made (no time left); the report keeps its schedule.
Outcome = Literal["ok", "retry", "drop", "skipped"]


@dataclass(frozen=True)
class SendResult:
    """How one POST went."""

    outcome: Outcome
    reason: str
    status: int | None = None
    retry_after: float | None = None


class Transport(Protocol):
    """Sends one report body; tests and other products may plug in their own."""

    def send(self, body: bytes, *, idempotency_key: str, timeout: float) -> SendResult: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Example:
        >>> parse_retry_after("120")
        120.0
        >>> parse_retry_after("soon") is None
        True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only for the rare HTTP-date form: ~2.5 ms of import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class RequestsTransport:
    """POSTs reports with ``requests``: TLS verified, proxies from the environment
    (``HTTPS_PROXY``, ``NO_PROXY``), no redirect to another origin, bounded response reads.
    """

    def __init__(self, endpoint: str) -> None:
        # Imported here, at configuration time, not at the first send: a first import on
        # the reporter thread could be under way when the application forks, and the child
        # would inherit a half-initialised module.
        import requests  # noqa: F401

        self.endpoint = endpoint
        self._session: requests.Session | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _get_session(self) -> requests.Session:
        import requests

        if self._session is None or self._pid != os.getpid():
            # A session's pooled sockets must not be shared with a forked child.
            self._session = requests.Session()
            self._pid = os.getpid()
        return self._session

    def send(self, body: bytes, *, idempotency_key: str, timeout: float) -> SendResult:
        import requests

        headers = {
            "Content-Type": "application/json",  # UTF-8 by definition (RFC 8259)
            "User-Agent": USER_AGENT,
            "Idempotency-Key": idempotency_key,
            "Accept": "application/json",
        }
        url = self.endpoint
        deadline = time.monotonic() + timeout
        # One same-origin 307/308 is followed (the body is resent as is); a redirect to
        # another host could leak the report, so it is refused.
        for _hop in range(2):
            try:
                with self._own_lock():
                    session = self._get_session()
                response = session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=(min(timeout, 10.0), timeout),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.Timeout as exc:
                return SendResult("retry", f"timed out after {timeout:g} s ({type(exc).__name__})")
            except requests.exceptions.SSLError as exc:
                return SendResult("retry", f"TLS error: {exc}")
            except requests.exceptions.RequestException as exc:
                return SendResult("retry", f"connection failed: {type(exc).__name__}: {exc}")
            try:
                status = response.status_code
                try:
                    text = _read_bounded(response.raw, deadline)
                except Exception:  # the body is informational only
                    text = b""
                location = response.headers.get("Location")
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            finally:
                response.close()
            if status in (307, 308) and location:
                target = urljoin(url, location)
                if _origin(target) == _origin(self.endpoint):
                    url = target
                    continue
                return SendResult("drop", f"HTTP {status} redirect to another host refused", status)
            return _classify(status, retry_after, text)
        return SendResult("drop", "too many redirects", None)

    def _own_lock(self) -> threading.Lock:
        if self._pid != os.getpid():
            # A forked child must not wait on its parent's lock (a parent thread may have
            # held it at the fork); _get_session then replaces the parent's session.
            self._lock = threading.Lock()
        return self._lock

    def close(self) -> None:
        with self._own_lock():
            if self._session is not None and self._pid == os.getpid():
                self._session.close()
            self._session = None


def _read_bounded(raw: Any, deadline: float) -> bytes:
    """At most ``MAX_RESPONSE_BYTES`` of the body, and none after ``deadline``.

    The read timeout applies to each socket read, so a server trickling its body (each byte
    within the timeout) would hold a single ``read(MAX_RESPONSE_BYTES)`` for hours; ``read1``
    returns what has arrived, letting the deadline be checked between reads.
    """
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # urllib3 < 2.3 has no read1: the size bound still holds
        return bytes(raw.read(MAX_RESPONSE_BYTES, decode_content=True))
    parts: list[bytes] = []
    size = 0
    while size < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
        piece = read1(MAX_RESPONSE_BYTES - size, decode_content=True)
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def _classify(status: int, retry_after: float | None, body: bytes) -> SendResult:
    snippet = body[:200].decode("utf-8", "replace").strip()
    reason = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        return SendResult("ok", reason, status)
    if status == 429 or status >= 500:
        return SendResult("retry", reason, status, retry_after)
    return SendResult("drop", reason, status)
