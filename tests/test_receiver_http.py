"""The receiver over real HTTP on 127.0.0.1: every status code, and nothing invalid stored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _receiver_http import golden, post_report, raw_exchange, request

from otel_camunda_telemetry.receiver import FlagPolicy, RateLimit, ReceiverServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReceiverServer]:
    with ReceiverServer(db=tmp_path / "reports.sqlite3", rate_limit=None) as running:
        yield running


def test_each_seed_report_is_accepted_and_stored(server: ReceiverServer) -> None:
    for name in ("engine_initial", "engine_full", "optimize"):
        status, headers, body = post_report(server.url, golden(name))
        assert (status, body) == (202, {"status": "accepted"})
        assert headers["content-type"] == "application/json"
    assert server.reports() == [golden(n) for n in ("engine_initial", "engine_full", "optimize")]
    stored = server.store.reports()
    assert [r.kind for r in stored] == ["engine-initial", "engine-full", "optimize"]
    assert stored[1].installation == "8343cc7a-8ad1-42d4-97d2-43452c0bdfa3"
    assert (stored[1].product_name, stored[1].product_version, stored[1].product_edition) == (
        "Camunda BPM Runtime",
        "7.14.0",
        "enterprise",
    )
    assert all(r.received_at <= time.time() and r.flagged is None for r in stored)


def test_charset_parameter_is_accepted(server: ReceiverServer) -> None:
    status, _, _ = post_report(
        server.url, golden("engine_initial"), content_type="application/json; charset=UTF-8"
    )
    assert status == 202


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b'{"installation": NaN}', '{"a": "\xff"}'.encode("latin-1")]
)
def test_malformed_json_is_400(server: ReceiverServer, body: bytes) -> None:
    status, _, answer = post_report(server.url, body)
    assert status == 400 and answer["error"] == "Bad Request"
    assert server.store.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", ""],
)
def test_wrong_content_type_is_415(server: ReceiverServer, content_type: str) -> None:
    status, _, _ = post_report(server.url, golden("engine_initial"), content_type=content_type)
    assert status == 415
    assert server.store.count() == 0


def test_schema_mismatch_is_422_with_the_failing_path(server: ReceiverServer) -> None:
    report = golden("engine_full")
    report["product"]["internals"]["hostname"] = "db-01.example.com"
    status, _, answer = post_report(server.url, report)
    assert status == 422
    assert answer["path"] == "$.product.internals" and answer["kind"] == "engine-full"
    assert "hostname" in answer["message"]

    status, _, answer = post_report(server.url, [1, 2])
    assert (status, answer["path"]) == (422, "$")
    assert server.store.count() == 0


def test_oversized_body_is_413(tmp_path: Path) -> None:
    with ReceiverServer(db=tmp_path / "r.sqlite3", max_body_bytes=1024) as small:
        report = golden("engine_full")
        report["product"]["internals"]["license-key"]["raw"] = "x" * 2000
        status, _, answer = post_report(small.url, report)
        assert (status, answer["limit"]) == (413, 1024)
        assert small.store.count() == 0


def test_413_is_answered_from_the_header_without_reading_the_body(server: ReceiverServer) -> None:
    # Announce a gigabyte, send 10 bytes and wait: the answer can only come from the header.
    head = (
        "POST /pings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10**9}\r\n\r\n"
    ).encode()
    answer = raw_exchange(server.host, server.port, head + b'{"a": 1, "')
    assert answer.startswith(b"HTTP/1.0 413 ") or answer.startswith(b"HTTP/1.1 413 ")
    assert server.store.count() == 0
    assert post_report(server.url, golden("engine_initial"))[0] == 202  # still serving


def test_missing_or_bad_content_length(server: ReceiverServer) -> None:
    head = "POST /pings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    no_length = raw_exchange(server.host, server.port, (head + "\r\n").encode())
    assert b" 411 " in no_length.split(b"\r\n", 1)[0]
    bad = raw_exchange(server.host, server.port, (head + "Content-Length: -5\r\n\r\n").encode())
    assert b" 400 " in bad.split(b"\r\n", 1)[0]
    assert server.store.count() == 0


def test_unknown_paths_are_404_and_wrong_methods_405(server: ReceiverServer) -> None:
    assert request(server.base_url + "/nope")[0] == 404
    status, headers, _ = request(server.url)  # GET /pings
    assert (status, headers["allow"]) == (405, "POST")
    status, headers, _ = request(
        server.base_url + "/", "POST", b"{}", {"Content-Type": "application/json"}
    )
    assert (status, headers["allow"]) == (405, "GET")
    assert request(server.base_url + "/healthz")[0] == 200
    assert server.store.count() == 0


def test_repeated_idempotency_key_is_acknowledged_once_stored(server: ReceiverServer) -> None:
    report = golden("engine_full")
    key = "0b7c1d3e-6a47-4c55-9c0e-5d6f2b1a9e11"
    assert post_report(server.url, report, key=key)[2] == {"status": "accepted"}
    for _ in range(3):
        status, _, answer = post_report(server.url, report, key=key)
        assert (status, answer) == (202, {"status": "duplicate"})
    assert server.store.count() == 1
    assert server.store.reports()[0].idempotency_key == key


def test_reports_without_idempotency_key_are_each_stored(server: ReceiverServer) -> None:
    for _ in range(2):
        assert post_report(server.url, golden("engine_full"), key=None)[0] == 202
    assert server.store.count() == 2


def test_bad_idempotency_key_is_400(server: ReceiverServer) -> None:
    assert post_report(server.url, golden("engine_full"), key="k" * 201)[0] == 400
    assert server.store.count() == 0


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    limit = RateLimit(requests=3, per_seconds=3600)
    with ReceiverServer(db=tmp_path / "r.sqlite3", rate_limit=limit) as limited:
        for _ in range(3):
            assert post_report(limited.url, golden("engine_full"))[0] == 202
        status, headers, answer = post_report(limited.url, golden("engine_full"))
        assert status == 429 and answer["error"] == "Too Many Requests"
        assert 1 <= int(headers["retry-after"]) <= 3600
        assert limited.store.count() == 3
        # The dashboard is not rate limited.
        assert request(limited.base_url + "/api/summary")[0] == 200


def test_too_frequent_reports_are_flagged_not_rejected(tmp_path: Path) -> None:
    policy = FlagPolicy(max_reports=2, window_seconds=3600)
    with ReceiverServer(db=tmp_path / "r.sqlite3", rate_limit=None, flag_policy=policy) as srv:
        for _ in range(4):
            assert post_report(srv.url, golden("engine_full"))[0] == 202
        for _ in range(2):
            assert post_report(srv.url, golden("engine_initial"))[0] == 202
        flags = [r.flagged for r in srv.store.reports()]
        assert flags == [None, None, "too-frequent", "too-frequent", None, "repeated-initial"]
        _, _, data = request(srv.base_url + "/api/summary")
        summary = json.loads(data)
        assert summary["totals"]["flagged"] == 3
        assert summary["charts"]["flags"] == [
            {"label": "too-frequent", "value": 2},
            {"label": "repeated-initial", "value": 1},
        ]
