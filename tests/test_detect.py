"""Environment detection -> Resource, with real drivers and real servers."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_camunda_telemetry import ProductInfo
from otel_camunda_telemetry._detect import (
    detect_application_server,
    detect_database,
    detect_resource,
)
from tests._admin_support import require

URL_VARIABLE = "OTEL_CT_TEST_POSTGRES_URL"
# Read at import: the autouse fixture clears every OTEL_* variable before each test.
POSTGRES_URL = os.environ.get(URL_VARIABLE, "").strip()
ROOT = Path(__file__).resolve().parent.parent


def test_sqlite_connection(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "app.db")
    try:
        assert detect_database(conn) == ("sqlite", sqlite3.sqlite_version)
        resource = detect_resource(database=conn, detect_server=False)
    finally:
        conn.close()
    info = ProductInfo.from_attributes(resource.attributes)
    assert (info.database_vendor, info.database_version) == ("sqlite", sqlite3.sqlite_version)
    assert (info.jdk_vendor, info.jdk_version) == (
        platform.python_implementation(),
        platform.python_version(),
    )
    assert info.application_server_vendor is None


def test_sqlalchemy_engine_that_never_connected(tmp_path: Path) -> None:
    sqlalchemy = require("sqlalchemy", "pip install sqlalchemy")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        assert engine.dialect.server_version_info is None  # detection has to connect
        assert detect_database(engine) == ("sqlite", sqlite3.sqlite_version)
        with engine.connect() as connection:
            assert detect_database(connection) == ("sqlite", sqlite3.sqlite_version)
    finally:
        engine.dispose()


def test_unknown_driver_and_broken_connection() -> None:
    assert detect_database(object()) is None
    conn = sqlite3.connect(":memory:")
    conn.close()
    # sqlite's version is the library's, readable even after close.
    assert detect_database(conn) == ("sqlite", sqlite3.sqlite_version)


def test_server_from_environ() -> None:
    assert detect_application_server({"SERVER_SOFTWARE": "gunicorn/22.0.0"}) == (
        "gunicorn",
        "22.0.0",
    )
    assert detect_application_server({"SERVER_SOFTWARE": "waitress"}) == ("waitress", None)
    assert detect_application_server({"SERVER_SOFTWARE": "WSGIServer/0.2 CPython/3.11"}) == (
        "WSGIServer",
        "0.2",
    )


def test_server_from_loaded_modules(tmp_path: Path) -> None:
    # A fresh interpreter, so what this test process imported does not count.
    script = textwrap.dedent("""
        import json, sys
        from otel_camunda_telemetry._detect import detect_application_server
        before = detect_application_server()
        import uvicorn
        print(json.dumps([before, detect_application_server()]))
    """)
    require("uvicorn", "pip install uvicorn")
    import importlib.metadata
    import json

    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    before, after = json.loads(out)
    assert before is None
    assert after == ["uvicorn", importlib.metadata.version("uvicorn")]


def test_precedence_detected_then_env_then_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES",
        "camunda.database.version=from-env,camunda.product.name=Env Engine",
    )
    conn = sqlite3.connect(tmp_path / "app.db")
    try:
        resource = detect_resource(
            database=conn,
            environ={"SERVER_SOFTWARE": "gunicorn/22.0.0"},
            overrides={"camunda.product.name": "My Engine", "camunda.product.version": "2.0"},
        )
    finally:
        conn.close()
    attributes = resource.attributes
    assert attributes["camunda.database.vendor"] == "sqlite"  # detected
    assert attributes["camunda.database.version"] == "from-env"  # env beats detection
    assert attributes["camunda.product.name"] == "My Engine"  # overrides beat env
    assert attributes["camunda.application_server.vendor"] == "gunicorn"
    info = ProductInfo.from_attributes(attributes)
    assert (info.name, info.version) == ("My Engine", "2.0")


def test_postgres_server_version() -> None:
    url = POSTGRES_URL
    if not url:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{URL_VARIABLE} is not set in CI")
        pytest.skip(f"set {URL_VARIABLE} (scripts/start-postgres.sh url) to run")
    psycopg = pytest.importorskip("psycopg", reason="needs the [postgres] extra")
    with psycopg.connect(url, connect_timeout=10) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()[0]
        vendor, version = detect_database(conn) or (None, None)
    assert vendor == "postgres"
    # SHOW gives e.g. "15.14 (Debian 15.14-0+deb12u1)"; libpq's number gives "15.14".
    assert version is not None and server_version.startswith(version)
