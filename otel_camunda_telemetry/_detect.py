"""Build the Resource of SPEC section 3 from what the running application can tell us.

Detected: the interpreter (``camunda.jdk.*``), the database behind a DB-API connection or a
SQLAlchemy engine (``camunda.database.*``), and the WSGI/ASGI server (``camunda.application_
server.*``). Nothing is imported to find out: a driver is only asked about when the caller
hands over one of its connections, a server only when it is already loaded.

Precedence, lowest first: detected values, ``OTEL_RESOURCE_ATTRIBUTES``, explicit overrides.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.util.types import AttributeValue

from ._resource import interpreter

__all__ = ["detect_application_server", "detect_database", "detect_resource"]

_log = logging.getLogger("otel_camunda_telemetry")

# Vendor names follow Camunda's database type ids (the seeds show "h2", "elasticsearch").
# driver package (top-level module of the connection's class) -> (vendor, version reader)
_DBAPI: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "sqlite3": ("sqlite", lambda conn: sys.modules["sqlite3"].sqlite_version),
    "pysqlite2": ("sqlite", lambda conn: sys.modules["pysqlite2"].dbapi2.sqlite_version),
    "psycopg": ("postgres", lambda conn: _pg_version(conn.info.server_version)),
    "psycopg2": ("postgres", lambda conn: _pg_version(conn.server_version)),
    "pg8000": ("postgres", lambda conn: conn.parameter_statuses.get("server_version")),
    "asyncpg": ("postgres", lambda conn: ".".join(map(str, conn.get_server_version()[:2]))),
    "pymysql": ("mysql", lambda conn: conn.get_server_info()),
    "MySQLdb": ("mysql", lambda conn: conn.get_server_info()),
    "mysql": ("mysql", lambda conn: conn.get_server_info()),  # mysql.connector
    "mariadb": ("mariadb", lambda conn: conn.server_info),
    "oracledb": ("oracle", lambda conn: conn.version),
    "cx_Oracle": ("oracle", lambda conn: conn.version),
    "pymssql": ("mssql", lambda conn: None),
    "ibm_db_dbi": ("db2", lambda conn: conn.server_info()[1]),
    "duckdb": ("duckdb", lambda conn: conn.execute("select version()").fetchone()[0]),
}

# SQLAlchemy dialect name -> vendor
_DIALECTS = {
    "postgresql": "postgres",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "oracle": "oracle",
    "mssql": "mssql",
    "duckdb": "duckdb",
    "ibm_db_sa": "db2",
}

# Servers recognised when loaded, in order of preference (gunicorn runs uvicorn workers, so
# it comes first): module -> distribution on PyPI.
_SERVERS = (
    ("gunicorn", "gunicorn"),
    ("hypercorn", "hypercorn"),
    ("granian", "granian"),
    ("daphne", "daphne"),
    ("uvicorn", "uvicorn"),
    ("waitress", "waitress"),
    ("mod_wsgi", "mod_wsgi"),
    ("cheroot", "cheroot"),
)


def _pg_version(number: int) -> str:
    # libpq's integer: 150004 -> "15.4"; before 10 it had three parts: 90624 -> "9.6.24".
    if number >= 100000:
        return f"{number // 10000}.{number % 10000}"
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def detect_database(connection: Any) -> tuple[str, str | None] | None:
    """``(vendor, server version)`` of a DB-API connection or a SQLAlchemy engine/connection.

    The version is ``None`` when the driver cannot tell; the result is ``None`` for an
    unknown driver. Never raises.

    Example:
        >>> import sqlite3
        >>> conn = sqlite3.connect(":memory:")
        >>> detect_database(conn) == ("sqlite", sqlite3.sqlite_version)
        True
        >>> conn.close()
    """
    dialect = getattr(connection, "dialect", None)
    if dialect is not None and hasattr(dialect, "server_version_info"):
        return _sqlalchemy(connection, dialect)
    root = type(connection).__module__.split(".")[0]
    known = _DBAPI.get(root)
    if known is None:
        return None
    vendor, read_version = known
    try:
        version = read_version(connection)
    except Exception as exc:  # a closed connection, an old driver: the vendor still counts
        _log.debug("could not read the %s server version (%s)", vendor, exc)
        version = None
    text = None if version is None else str(version).strip() or None
    if vendor == "mysql" and text and "mariadb" in text.lower():
        vendor = "mariadb"
    return vendor, text


def _sqlalchemy(connection: Any, dialect: Any) -> tuple[str, str | None]:
    vendor = _DIALECTS.get(dialect.name, dialect.name)
    info = dialect.server_version_info
    if info is None and hasattr(connection, "raw_connection"):  # an Engine, not a Connection
        # An engine that never connected does not know the server yet: connect once.
        try:
            with connection.connect():
                pass
            info = dialect.server_version_info
        except Exception as exc:
            _log.debug("could not connect to read the %s server version (%s)", vendor, exc)
    version = ".".join(str(part) for part in info) if info else None
    return vendor, version


def detect_application_server(
    environ: Mapping[str, Any] | None = None,
) -> tuple[str, str | None] | None:
    """``(vendor, version)`` of the WSGI/ASGI server, from a WSGI environ's
    ``SERVER_SOFTWARE`` (``"gunicorn/22.0.0"``) or else from the server modules loaded.

    Example:
        >>> detect_application_server({"SERVER_SOFTWARE": "gunicorn/22.0.0"})
        ('gunicorn', '22.0.0')
    """
    software = str((environ or {}).get("SERVER_SOFTWARE") or "").strip()
    if software:
        first = software.split()[0]
        vendor, _, version = first.partition("/")
        return vendor, version or None
    import importlib.metadata  # ~5 ms: only when detection runs, not at import

    for module, distribution in _SERVERS:
        if module in sys.modules:
            try:
                return module, importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                return module, getattr(sys.modules[module], "__version__", None)
    return None


def detect_resource(
    *,
    database: Any = None,
    environ: Mapping[str, Any] | None = None,
    detect_server: bool = True,
    overrides: Mapping[str, AttributeValue] | None = None,
) -> Resource:
    """A Resource describing the installation: detected values, then
    ``OTEL_RESOURCE_ATTRIBUTES``, then ``overrides`` (the last wins).

    Args:
        database: A DB-API connection (sqlite3, psycopg, psycopg2, pymysql, ...) or a
            SQLAlchemy engine or connection.
        environ: A WSGI environ, for ``SERVER_SOFTWARE``; without it the loaded server
            modules (gunicorn, uvicorn, waitress, ...) are looked at.
        detect_server: False to leave the application server out.
        overrides: Attributes that win, typically ``camunda.product.name`` and
            ``camunda.product.version``.

    Example:
        >>> import sqlite3
        >>> conn = sqlite3.connect(":memory:")
        >>> resource = detect_resource(database=conn,
        ...     overrides={"camunda.product.name": "My Engine", "camunda.product.version": "1.0"})
        >>> attributes = resource.attributes
        >>> attributes["camunda.database.vendor"], attributes["camunda.jdk.vendor"]
        ('sqlite', 'CPython')
        >>> conn.close()
    """
    detected: dict[str, AttributeValue] = {}
    detected["camunda.jdk.vendor"], detected["camunda.jdk.version"] = interpreter()
    if database is not None:
        found = detect_database(database)
        if found is not None:
            detected["camunda.database.vendor"] = found[0]
            if found[1] is not None:
                detected["camunda.database.version"] = found[1]
    if detect_server:
        server = detect_application_server(environ)
        if server is not None:
            detected["camunda.application_server.vendor"] = server[0]
            if server[1] is not None:
                detected["camunda.application_server.version"] = server[1]
    # Resource.create adds the SDK's attributes and OTEL_RESOURCE_ATTRIBUTES, then the
    # overrides on top; merged over the detected values, both of them win.
    return Resource(detected).merge(Resource.create(dict(overrides or {})))
