"""The receiver with its reports in PostgreSQL: one database behind several receivers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from _cluster import require_psycopg

from otel_camunda_telemetry.receiver import ReceiverServer, ReportStore

psycopg = require_psycopg()

from otel_camunda_telemetry.receiver._storage_postgres import (  # noqa: E402  (needs psycopg)
    SCHEMA_VERSION,
    PostgresReportStore,
)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"


def golden(name: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    return report


def post(url: str, report: dict[str, Any], key: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        url, json.dumps(report).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.fixture
def store(pg_database: str) -> Iterator[PostgresReportStore]:
    opened = PostgresReportStore(pg_database)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def server(store: PostgresReportStore) -> Iterator[ReceiverServer]:
    with ReceiverServer(db=store, secret=store.shared_secret(), rate_limit=None) as running:
        yield running


def test_it_is_a_report_store_with_a_versioned_schema(
    store: PostgresReportStore, pg_database: str
) -> None:
    assert isinstance(store, ReportStore)
    assert store.count() == 0 and store.reports() == []
    with psycopg.connect(pg_database) as conn:
        row = conn.execute("SELECT value FROM receiver_meta WHERE key = 'schema_version'")
        assert row.fetchone() == (str(SCHEMA_VERSION),)
        conn.execute("UPDATE receiver_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(RuntimeError, match="newer"):
        PostgresReportStore(pg_database)


def test_reports_are_stored_deduplicated_and_flagged(
    server: ReceiverServer, store: PostgresReportStore
) -> None:
    key = str(uuid.uuid4())
    assert post(server.url, golden("engine_initial"), key) == (202, {"status": "accepted"})
    assert post(server.url, golden("engine_initial"), key) == (202, {"status": "duplicate"})
    assert post(server.url, golden("engine_initial"), str(uuid.uuid4()))[0] == 202
    assert post(server.url, golden("engine_full"), str(uuid.uuid4()))[0] == 202

    stored = store.reports()
    assert [r.kind for r in stored] == ["engine-initial", "engine-initial", "engine-full"]
    assert [r.flagged for r in stored] == [None, "repeated-initial", None]
    assert stored[0].idempotency_key == key and stored[0].body == golden("engine_initial")
    assert stored[0].id < stored[1].id < stored[2].id
    assert store.count() == 3
    assert store.reports(since=stored[2].received_at) == [stored[2]]
    with urllib.request.urlopen(server.base_url + "/api/summary", timeout=60) as response:
        assert response.status == 200


def test_receivers_sharing_the_database_store_a_retried_report_once(
    pg_database: str,
) -> None:
    stores = [PostgresReportStore(pg_database) for _ in range(2)]
    assert stores[0].shared_secret() == stores[1].shared_secret()  # same client, same hash
    servers = [ReceiverServer(db=s, secret=s.shared_secret(), rate_limit=None) for s in stores]
    try:
        key = str(uuid.uuid4())
        answers: list[int] = []

        def send(url: str) -> None:
            answers.append(post(url, golden("engine_full"), key)[0])

        threads = [threading.Thread(target=send, args=(servers[i % 2].url,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert answers == [202] * 8
        assert stores[0].count() == 1
    finally:
        for running in servers:
            running.stop()


def test_a_lost_connection_answers_503_once_then_recovers(
    server: ReceiverServer, store: PostgresReportStore, pg_database: str
) -> None:
    assert post(server.url, golden("engine_full"), str(uuid.uuid4()))[0] == 202
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'otel-camunda-telemetry-receiver'"
            " AND datname = current_database()"
        )
    key = str(uuid.uuid4())
    status, _ = post(server.url, golden("engine_full"), key)
    assert status == 503  # a sender retries this, with the same key
    assert post(server.url, golden("engine_full"), key) == (202, {"status": "accepted"})
    assert store.count() == 2


def test_receive_command_with_a_postgresql_url(pg_database: str) -> None:
    parts = urlsplit(pg_database)
    # Trust authentication ignores the password; it is there to prove it is never printed.
    url = urlunsplit(parts._replace(netloc=f"postgres:hunter2@{parts.hostname}:{parts.port}"))
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_camunda_telemetry.receiver", "--port", "0", "--db", url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/pings)", line)
        assert match, line
        assert post(match.group(1), golden("engine_full"), str(uuid.uuid4()))[0] == 202
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "hunter2" not in line + out + err
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT kind FROM reports").fetchall() == [("engine-full",)]
        secret = conn.execute("SELECT value FROM receiver_meta WHERE key = 'ip_hash_secret'")
        assert len(secret.fetchone()[0]) == 64  # the shared key lives in the database
