"""RequestsTransport against real servers on 127.0.0.1:0: TLS, proxies, redirects, body limit,
closed connections and outcome classification. No mocks: every server here is a real socket
server in a thread (TLS from ``trustme`` certificates), and the transport is the real one.
"""

from __future__ import annotations

import email.utils
import gc
import select
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from _support import wait_for

from otel_camunda_telemetry._transport import MAX_RESPONSE_BYTES, RequestsTransport
from otel_camunda_telemetry._version import __version__

BODY = b'{"installation": "8343ead2-fc9b-4b9e-8a6e-1f3c4c5d6e7f", "product": {}}'
KEY = "report-0001"
TIMEOUT = 20.0  # generous: the machine is shared; only the timeout test uses a short one

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Conn:
    """One accepted connection: reads HTTP/1.1 requests, writes raw responses."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection (EOF)."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        first, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = first.split(" ", 2)
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._fill():
                return None
        body, self.buf = self.buf[:length], self.buf[length:]
        return Request(method, target, headers, body)

    def respond(
        self, status: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        lines = [f"HTTP/1.1 {status} Status"]
        lines += [
            f"{k}: {v}" for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items()
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


Handler = Callable[["Server", Conn], None]


@dataclass
class Server:
    """A threaded socket server on 127.0.0.1:0; ``handler`` runs once per connection."""

    handler: Handler
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def url(self, path: str = "/ingest") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def record(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(60)
        self.record("connected")
        try:
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.record(f"tls failed: {exc}")
                    return
            self.handler(self, Conn(sock))
        except OSError as exc:
            self.record(f"error: {type(exc).__name__}")
        finally:
            sock.close()

    def close(self) -> None:
        self.stop.set()
        self.acceptor.join(10)
        for thread in self.threads:
            thread.join(30)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def _no_proxy_or_ca_from_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy and CA variables come only from the tests (the machine sets a CA bundle)."""
    for name in PROXY_VARIABLES + CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def transport() -> Iterator[Callable[[str], RequestsTransport]]:
    made: list[RequestsTransport] = []

    def make(endpoint: str) -> RequestsTransport:
        made.append(RequestsTransport(endpoint))
        return made[-1]

    yield make
    for t in made:
        t.close()


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Handler:
    """A handler that records each request on the connection and answers it the same way."""

    def handle(server: Server, conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            with server.lock:
                server.requests.append(request)
            conn.respond(status, headers, body)

    return handle


def received(server: Server) -> list[Request]:
    with server.lock:
        return list(server.requests)


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def ca_pem(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_tls_untrusted_ca_is_refused_then_trusted_ca_bundle_delivers(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    ca: trustme.CA,
    ca_pem: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = serve(answer(202), tls_context(ca, "127.0.0.1", "localhost"))
    t = transport(server.url())

    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert result.outcome == "retry"
    assert "TLS" in result.reason
    assert "certificate" in result.reason.lower()
    # The client connected, refused the certificate, and sent nothing.
    wait_for(lambda: any(e.startswith("tls failed") for e in server.events), what="handshake")
    assert received(server) == []

    # Same transport (its session already exists): the variable is read per request.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_pem)
    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("ok", 202)
    [request] = received(server)
    assert request.method == "POST"
    assert request.target == "/ingest"
    assert request.body == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"otel-camunda-telemetry/{__version__}"
    assert request.headers["idempotency-key"] == KEY


def test_tls_certificate_for_another_host_is_refused_even_from_a_trusted_ca(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    ca: trustme.CA,
    ca_pem: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_pem)
    server = serve(answer(202), tls_context(ca, "telemetry.example.com"))
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert result.outcome == "retry"
    assert "TLS" in result.reason
    assert "127.0.0.1" in result.reason  # the hostname mismatch is named
    assert received(server) == []


# --- proxies -----------------------------------------------------------------------------


def proxy(server: Server, conn: Conn) -> None:
    """Records every request; answers plain ones itself (202) and tunnels CONNECT."""
    request = conn.read_request()
    if request is None:
        return
    with server.lock:
        server.requests.append(request)
    if request.method != "CONNECT":
        conn.respond(202, {"X-Answered-By": "proxy"})
        return
    host, port = request.target.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as upstream:
        conn.sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {conn.sock: upstream, upstream: conn.sock}
        while not server.stop.is_set():
            readable, _, _ = select.select(list(pair), [], [], 0.2)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                pair[sock].sendall(data)


def test_http_proxy_is_used_and_no_proxy_bypasses_it(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    origin = serve(answer(200))
    relay = serve(proxy)
    t = transport(origin.url())
    t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)  # the session exists before the env
    assert len(received(origin)) == 1

    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{relay.port}")
    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("ok", 202)  # the proxy's own answer
    [via_proxy] = received(relay)
    assert via_proxy.method == "POST"
    assert via_proxy.target == origin.url()  # absolute URI: a proxy request
    assert via_proxy.body == BODY
    assert via_proxy.headers["idempotency-key"] == KEY
    assert len(received(origin)) == 1

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("ok", 200)
    assert len(received(relay)) == 1
    assert [r.target for r in received(origin)] == ["/ingest", "/ingest"]


def test_https_proxy_tunnels_with_tls_verified_end_to_end_and_no_proxy_bypasses_it(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    ca: trustme.CA,
    ca_pem: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    origin = serve(answer(202), tls_context(ca, "127.0.0.1"))
    relay = serve(proxy)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{relay.port}")
    t = transport(origin.url())

    # Through the tunnel the origin's certificate is still checked: untrusted CA, refused.
    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert result.outcome == "retry"
    assert "certificate" in result.reason.lower()
    assert [r.method for r in received(relay)] == ["CONNECT"]
    assert received(origin) == []

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_pem)
    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("ok", 202)
    connects = received(relay)
    assert [(r.method, r.target) for r in connects] == [("CONNECT", f"127.0.0.1:{origin.port}")] * 2
    assert all(r.body == b"" for r in connects)  # the proxy saw no report, only the tunnel
    [request] = received(origin)
    assert (request.body, request.headers["idempotency-key"]) == (BODY, KEY)

    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert result.outcome == "ok"
    assert len(received(relay)) == 2
    assert len(received(origin)) == 2


# --- redirects ---------------------------------------------------------------------------


def redirect_first(status: int, location: Callable[[], str], then: int = 202) -> Handler:
    """Answers the first request on the server with a redirect, later ones with ``then``."""

    def handle(server: Server, conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            with server.lock:
                server.requests.append(request)
                first = len(server.requests) == 1
            if first:
                conn.respond(status, {"Location": location()})
            else:
                conn.respond(then)

    return handle


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("where", ["other port", "other host name"])
def test_redirect_to_another_origin_is_refused(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    status: int,
    where: str,
) -> None:
    elsewhere = serve(answer(202))
    holder: list[Server] = []

    def location() -> str:
        if where == "other port":
            return elsewhere.url("/steal")
        return f"http://localhost:{holder[0].port}/steal"

    origin = serve(redirect_first(status, location))
    holder.append(origin)
    result = transport(origin.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("drop", status)
    assert "redirect" in result.reason
    assert len(received(origin)) == 1
    assert received(elsewhere) == []
    assert elsewhere.events == []  # not even a connection


def test_redirect_from_https_to_http_on_the_same_host_and_port_is_refused(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    ca: trustme.CA,
    ca_pem: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_pem)
    holder: list[Server] = []
    origin = serve(
        redirect_first(307, lambda: f"http://127.0.0.1:{holder[0].port}/plain"),
        tls_context(ca, "127.0.0.1"),
    )
    holder.append(origin)
    result = transport(origin.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("drop", 307)
    assert len(received(origin)) == 1


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("absolute", [False, True])
def test_same_origin_307_308_is_followed_once_with_the_same_body_and_key(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    status: int,
    absolute: bool,
) -> None:
    holder: list[Server] = []
    origin = serve(
        redirect_first(status, lambda: holder[0].url("/v2/ingest") if absolute else "/v2/ingest")
    )
    holder.append(origin)
    result = transport(origin.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("ok", 202)
    first, second = received(origin)
    assert (first.target, second.target) == ("/ingest", "/v2/ingest")
    assert second.method == "POST"
    assert second.body == BODY
    assert second.headers["idempotency-key"] == KEY
    assert second.headers["content-type"] == "application/json"


def test_a_second_same_origin_redirect_is_not_followed(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport]
) -> None:
    origin = serve(answer(307, {"Location": "/again"}))
    result = transport(origin.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert result.outcome == "drop"
    assert "redirect" in result.reason
    assert [r.target for r in received(origin)] == ["/ingest", "/again"]


@pytest.mark.parametrize("status", [301, 302, 303])
@pytest.mark.parametrize("same_origin", [False, True])
def test_other_redirects_are_not_followed(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    status: int,
    same_origin: bool,
) -> None:
    elsewhere = serve(answer(202))
    holder: list[Server] = []
    origin = serve(
        redirect_first(
            status, lambda: holder[0].url("/moved") if same_origin else elsewhere.url("/moved")
        )
    )
    holder.append(origin)
    result = transport(origin.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("drop", status)
    assert f"HTTP {status}" in result.reason
    assert len(received(origin)) == 1
    assert received(elsewhere) == []


# --- response body limit ------------------------------------------------------------------

HUGE = 200 * 1024 * 1024


def huge_body(chunked: bool) -> Handler:
    """Answers 202 and then writes up to HUGE bytes of body, counting what got out."""

    def handle(server: Server, conn: Conn) -> None:
        request = conn.read_request()
        assert request is not None
        with server.lock:
            server.requests.append(request)
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
        conn.sock.sendall(f"HTTP/1.1 202 Accepted\r\n{framing}\r\n\r\n".encode())
        piece = b"x" * 65536
        chunk = b"10000\r\n" + piece + b"\r\n" if chunked else piece
        sent = 0
        try:
            while sent < HUGE:
                conn.sock.sendall(chunk)
                sent += len(piece)
        except OSError as exc:
            server.record(f"stopped after {sent} bytes: {type(exc).__name__}")
            return
        server.record(f"sent everything: {sent}")

    return handle


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_response_body_is_not_read_and_the_connection_is_dropped(
    serve: Callable[..., Server],
    transport: Callable[[str], RequestsTransport],
    chunked: bool,
) -> None:
    server = serve(huge_body(chunked))
    started = time.monotonic()
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert time.monotonic() - started < 60  # returned at all (a 200 MB read would not be)
    assert (result.outcome, result.status) == ("ok", 202)
    assert len(result.reason) < 300  # the snippet, not the body

    # The client stopped reading and closed its socket: the server's writes fail.
    [outcome] = wait_for(
        lambda: [e for e in server.events if e.startswith(("stopped", "sent"))],
        timeout=60,
        what="the server to stop writing",
    )
    assert outcome.startswith("stopped after"), outcome
    sent = int(outcome.split()[2])
    print(
        f"FIGURE body limit ({'chunked' if chunked else 'content-length'}): "
        f"server wrote {sent / 1e6:.2f} MB of {HUGE / 1e6:.0f} MB before the reset"
    )
    assert sent < 16 * 1024 * 1024  # socket buffers' worth, not the body
    assert MAX_RESPONSE_BYTES <= 64 * 1024


# --- connections closed ------------------------------------------------------------------


def answer_then_wait_for_eof(server: Server, conn: Conn) -> None:
    """Answers one request keep-alive, then waits for the client's next move."""
    request = conn.read_request()
    assert request is not None
    with server.lock:
        server.requests.append(request)
    conn.respond(202, {"Content-Type": "application/json"}, b'{"status": "accepted"}')
    conn.sock.settimeout(60)
    try:
        after = conn.read_request()
    except OSError as exc:
        server.record(f"closed: {type(exc).__name__}")
        return
    server.record("closed: EOF" if after is None else "another request")


def test_close_closes_the_connection_and_nothing_leaks(
    serve: Callable[..., Server],
) -> None:
    server = serve(answer_then_wait_for_eof)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = RequestsTransport(server.url())
        result = t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
        assert (result.outcome, result.status) == ("ok", 202)
        assert '"accepted"' in result.reason
        t.close()
        # Still referenced: it is close() that ends the connection, not garbage collection.
        wait_for(lambda: "closed: EOF" in server.events, what="the client to close")
        t.close()  # twice is harmless
        del t
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_transport_can_send_again_after_close(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport]
) -> None:
    server = serve(answer(202))
    t = transport(server.url())
    assert t.send(BODY, idempotency_key=KEY, timeout=TIMEOUT).outcome == "ok"
    t.close()
    assert t.send(BODY, idempotency_key="report-0002", timeout=TIMEOUT).outcome == "ok"
    assert [r.headers["idempotency-key"] for r in received(server)] == [KEY, "report-0002"]


# --- classification ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_ok(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport], status: int
) -> None:
    server = serve(answer(status))
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status, result.retry_after) == ("ok", status, None)


def test_429_with_retry_after_seconds(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport]
) -> None:
    server = serve(answer(429, {"Retry-After": "3"}, b"slow down"))
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 3.0)
    assert result.reason == "HTTP 429: slow down"


def test_429_with_retry_after_http_date(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport]
) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    server = serve(answer(429, {"Retry-After": when}))
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("retry", 429)
    assert result.retry_after is not None
    assert 60 < result.retry_after <= 121  # whole seconds in the date; the send took some


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport], status: int
) -> None:
    server = serve(answer(status, {"Retry-After": "7"} if status == 503 else None))
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("retry", status)
    assert result.retry_after == (7.0 if status == 503 else None)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_4xx_is_dropped_naming_the_status(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport], status: int
) -> None:
    server = serve(answer(status, {"Content-Type": "application/json"}, b'{"error": "no"}'))
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=TIMEOUT)
    assert (result.outcome, result.status) == ("drop", status)
    assert result.reason.startswith(f"HTTP {status}")
    assert '"error"' in result.reason


def test_connection_refused_is_retried(transport: Callable[[str], RequestsTransport]) -> None:
    # A bound socket that does not listen: connecting to it is refused, and the port
    # cannot be taken by anyone else meanwhile.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = transport(f"http://127.0.0.1:{port}/ingest").send(
            BODY, idempotency_key=KEY, timeout=TIMEOUT
        )
    assert (result.outcome, result.status) == ("retry", None)
    assert "connection failed" in result.reason
    assert "refused" in result.reason.lower()


def never_answer(server: Server, conn: Conn) -> None:
    request = conn.read_request()
    if request is not None:
        with server.lock:
            server.requests.append(request)
    server.stop.wait()


def test_a_server_that_never_answers_times_out_as_retry(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport]
) -> None:
    server = serve(never_answer)
    started = time.monotonic()
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=1.0)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.status) == ("retry", None)
    assert result.reason.startswith("timed out after 1 s")
    assert 0.9 <= elapsed < 30  # waited for the timeout, then gave up
    assert len(received(server)) == 1  # the request did arrive


def trickle_body(server: Server, conn: Conn) -> None:
    """Answers 202, then sends its body one byte every 0.2 s (a slow-loris server)."""
    request = conn.read_request()
    assert request is not None
    with server.lock:
        server.requests.append(request)
    conn.sock.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100000\r\n\r\n")
    while not server.stop.wait(0.2):
        conn.sock.sendall(b"x")


def test_a_trickled_response_body_is_cut_off_at_the_timeout(
    serve: Callable[..., Server], transport: Callable[[str], RequestsTransport]
) -> None:
    # Every byte comes well within the read timeout, so only a bound on the whole read
    # stops it (a single read of 64 KiB would take 3.6 hours here).
    server = serve(trickle_body)
    started = time.monotonic()
    result = transport(server.url()).send(BODY, idempotency_key=KEY, timeout=2.0)
    elapsed = time.monotonic() - started
    assert (result.outcome, result.status) == ("ok", 202)  # the status is the answer
    assert result.reason.startswith("HTTP 202: x")
    assert elapsed < 30
    print(f"FIGURE trickled body: send returned after {elapsed:.2f} s (timeout 2 s)")
