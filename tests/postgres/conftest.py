"""Fixtures for the tests that need a real PostgreSQL server.

The server is found through ``OTEL_CT_TEST_POSTGRES_URL``. Without it the tests skip with a
message saying how to start one; in CI (``CI=true``) a missing or unreachable server fails
them instead, so that a broken setup can never pass as a skip. Every test gets a fresh
database of its own (``CREATE DATABASE``), dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from _cluster import HOW_TO_RUN, START_SCRIPT, URL_VARIABLE, PostgresServer, in_ci, require_psycopg


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.postgres)


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}; {HOW_TO_RUN}")
    pytest.skip(f"PostgreSQL tests skipped: {reason}; {HOW_TO_RUN}")


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL (its database is used only to create per-test databases)."""
    psycopg = require_psycopg()
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        _unavailable(f"{URL_VARIABLE} is not set")
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {URL_VARIABLE}={url} ({exc})")
    return url


@pytest.fixture
def pg_database(postgres_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    psycopg = require_psycopg()
    name = "otel_ct_" + uuid.uuid4().hex[:16]
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_url, name)
    finally:
        # FORCE ends sessions a failed test may have left behind (PostgreSQL 13+).
        with psycopg.connect(postgres_url, autocommit=True, connect_timeout=30) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_server(postgres_url: str) -> Iterator[PostgresServer]:
    """Control of the test server; skips (fails in CI) when the script does not manage it."""
    port = urlsplit(postgres_url).port or 5432
    env = {**os.environ, "OTEL_CT_PG_PORT": str(port)}
    status = subprocess.run(
        [str(START_SCRIPT), "status"], env=env, capture_output=True, text=True, timeout=60
    )
    if status.returncode != 0:
        _unavailable(
            f"the server at {postgres_url} is not managed by scripts/start-postgres.sh "
            f"(status: {status.stdout.strip() or status.stderr.strip()}), so it cannot be restarted"
        )
    server = PostgresServer(postgres_url)
    try:
        yield server
    finally:
        server.start()  # never leave the server down for the next test
