"""The sender's IP address is never stored or logged; only a keyed hash of it is."""

from __future__ import annotations

import hashlib
import hmac
import logging
import sqlite3
import stat
from pathlib import Path

import pytest
from _receiver_http import golden, post_report, raw_exchange, request

from otel_camunda_telemetry.receiver import IpHasher, ReceiverServer, load_or_create_secret


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_ip_address_is_neither_stored_nor_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    caplog.set_level(logging.DEBUG)
    with ReceiverServer(db=data_dir / "reports.sqlite3", rate_limit=None) as server:
        for name in ("engine_initial", "engine_full", "optimize"):
            assert post_report(server.url, golden(name))[0] == 202
        assert post_report(server.url, b"{bad")[0] == 400
        bad = golden("engine_full")
        bad["product"]["edition"] = "x"
        assert post_report(server.url, bad)[0] == 422
        assert request(server.base_url + "/missing")[0] == 404
        raw_exchange(server.host, server.port, b"GARBAGE\r\n\r\n")  # a protocol error
        stored = server.store.reports()
        # While the server still runs, the WAL may hold the rows: scan it as well.
        files = _all_bytes(data_dir)
    files += _all_bytes(data_dir)
    out, err = capfd.readouterr()
    for haystack in (files, caplog.text.encode(), out.encode(), err.encode()):
        assert b"127.0.0.1" not in haystack
        assert b"7f000001" not in haystack  # nor the address in hex
    assert "report" in caplog.text  # the logs were captured, not empty
    secret = load_or_create_secret(data_dir / "reports.sqlite3.secret")
    expected = hmac.new(secret, b"127.0.0.1", hashlib.sha256).hexdigest()
    assert {r.ip_hash for r in stored} == {expected}
    assert expected != hashlib.sha256(b"127.0.0.1").hexdigest()


def test_secret_lives_outside_the_database_in_a_private_file(tmp_path: Path) -> None:
    db = tmp_path / "reports.sqlite3"
    with ReceiverServer(db=db, rate_limit=None) as server:
        assert post_report(server.url, golden("engine_full"))[0] == 202
    secret_file = tmp_path / "reports.sqlite3.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret_hex = secret_file.read_text().strip()
    assert len(bytes.fromhex(secret_hex)) == 32
    assert secret_hex.encode() not in db.read_bytes()
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        dump = "\n".join(conn.iterdump())
    conn.close()
    assert "reports" in tables and secret_hex not in dump
    # A restart keeps the secret, so hashes of the same client stay comparable.
    with ReceiverServer(db=db, rate_limit=None) as server:
        assert post_report(server.url, golden("engine_full"))[0] == 202
        hashes = {r.ip_hash for r in server.store.reports()}
    assert len(hashes) == 1 and secret_file.read_text().strip() == secret_hex


def test_custom_secret_file_location(tmp_path: Path) -> None:
    secret_file = tmp_path / "keys" / "receiver.key"
    with ReceiverServer(db=tmp_path / "r.sqlite3", secret_file=secret_file) as server:
        assert post_report(server.url, golden("engine_initial"))[0] == 202
    assert secret_file.exists() and not (tmp_path / "r.sqlite3.secret").exists()


def test_hasher_normalises_addresses_and_hides_its_secret() -> None:
    hasher = IpHasher(b"s" * 32)
    assert hasher("10.1.2.3") == hasher("::ffff:10.1.2.3") == hasher(" 10.1.2.3 ")
    assert hasher("10.1.2.3") != hasher("10.1.2.4")
    assert hasher("10.1.2.3") != IpHasher(b"t" * 32)("10.1.2.3")
    assert "s" * 16 not in repr(hasher)
    with pytest.raises(ValueError):
        IpHasher(b"short")
