"""The cluster state store: one PostgreSQL database shared by every node of an installation.

Selected by ``CAMUNDA_TELEMETRY_STATE=postgresql://...`` (the ``[postgres]`` extra installs
psycopg 3). All logic is the base class's portable SQL; this module supplies the connection,
the cluster-wide writer lock and the failure behaviour a remote database needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ._sql import SqlStateStore

_logger = logging.getLogger("otel_camunda_telemetry")

#: The advisory lock every writer of the state takes (a fixed 64-bit key; advisory locks
#: are scoped to one database, so installations in different databases never contend).
#: The digits spell "otelcamu" in ASCII: arbitrary, only required to stay the same.
ADVISORY_LOCK_KEY = 0x6F74656C63616D75

#: Seconds to wait for the server before a call raises (an unreachable database must not
#: hang the SDK's collection thread; the caller keeps its counts and retries).
CONNECT_TIMEOUT = 5

#: After a failed connection attempt, calls raise at once for this long instead of each
#: waiting ``CONNECT_TIMEOUT`` again: one cycle of the reporter makes several calls.
RECONNECT_INTERVAL = 1.0

# Session settings that keep one stuck node from stalling the cluster: a node frozen inside
# a transaction (SIGSTOP, a debugger) is disconnected, which releases the advisory lock; a
# node that waits too long for the lock gives up and retries on its next cycle.
_SESSION_SETTINGS = {
    "lock_timeout": "30s",
    "statement_timeout": "60s",
    "idle_in_transaction_session_timeout": "60s",
}


class PostgresStateStore(SqlStateStore):
    """State in a PostgreSQL database, shared by every node of a cluster.

    Every operation is one ``READ COMMITTED`` transaction that first takes the
    transaction-scoped advisory lock :data:`ADVISORY_LOCK_KEY`, so writers queue exactly as
    behind SQLite's ``BEGIN IMMEDIATE`` and each sees everything committed before it. The
    schema is created on first use under the same lock (concurrent first starts do not race
    on ``CREATE TABLE``). Tables live in the connection's current schema: to keep several
    installations in one database apart, give each its own schema through the URL, e.g.
    ``?options=-csearch_path%3Dmy_product`` (the schema must exist).

    A lost connection is dropped and the next call reconnects; while the server is
    unreachable calls raise :class:`psycopg.OperationalError` within
    :data:`CONNECT_TIMEOUT` seconds, never hang.

    Example:
        >>> store = PostgresStateStore("postgresql://telemetry:s3cret@db.example/telemetry")
        >>> store.location
        'postgresql://telemetry:***@db.example/telemetry'
    """

    paramstyle = "%s"

    def __init__(self, url: str) -> None:
        # ``location`` is shown by status displays (CLI, admin REST): never the password.
        super().__init__(redact_url(url))
        self._url = url
        self._connect_failed_at: float | None = None
        self._connect_error: psycopg.OperationalError | None = None

    @property
    def _counts_seq_column(self) -> str:
        return "BIGSERIAL PRIMARY KEY"

    def _begin_exclusive(self, cur: Any) -> None:
        # Nothing to do: _connection() hands out connections that already hold the lock.
        pass

    @staticmethod
    def _take_lock(conn: psycopg.Connection[Any]) -> None:
        """Begin a transaction on ``conn`` that holds the writers' lock until it ends."""
        with conn.cursor() as cur:
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            except psycopg.Error:
                if not conn.closed:
                    conn.rollback()  # e.g. lock_timeout: the connection stays usable
                raise

    def _connect(self) -> psycopg.Connection[Any]:
        # Always called under the base class's lock: no other guard needed.
        failed_at, error = self._connect_failed_at, self._connect_error
        if (
            error is not None
            and failed_at is not None
            and (time.monotonic() - failed_at < RECONNECT_INTERVAL)
        ):
            raise psycopg.OperationalError(f"telemetry state database unavailable: {error}")
        try:
            conn = self._open()
        except psycopg.OperationalError as exc:
            self._connect_failed_at, self._connect_error = time.monotonic(), exc
            raise
        if self._connect_failed_at is not None:
            _logger.info("telemetry state database %s is reachable again", self._redacted())
        self._connect_failed_at = self._connect_error = None
        return conn

    def _open(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self._url,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=False,
            application_name="otel-camunda-telemetry",
            # TCP keepalives notice a database host that vanished without closing the
            # connection (no FIN ever arrives when a host dies or a network splits).
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        try:
            # READ COMMITTED whatever the server's default: each statement after the lock
            # must see what the previous holder committed (a REPEATABLE READ snapshot is
            # taken by the lock statement itself, before the wait ends).
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            with conn.cursor() as cur:
                for name, value in _SESSION_SETTINGS.items():
                    cur.execute("SELECT set_config(%s, %s, false)", (name, value))
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
                self._create_schema(cur)
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> Any:
        """The connection, in a new transaction that already holds the writers' lock.

        The base class begins every transaction here, then calls :meth:`_begin_exclusive`.
        Taking the lock first lets a connection that died while idle (the server restarted)
        be replaced before anything was written, so the call succeeds on a fresh connection
        instead of failing once after every database restart.
        """
        previous = self._conn
        if previous is not None and previous.closed and self._pid == os.getpid():
            self._conn = None
        conn = super()._connection()  # also replaces a connection inherited over fork()
        reused = conn is previous
        try:
            self._take_lock(conn)
        except psycopg.Error as exc:
            if not (reused and conn.closed):
                raise
            self._discard(exc, reconnecting=True)
            conn = super()._connection()
            self._take_lock(conn)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        try:
            with super()._transaction() as cur:
                yield cur
        except psycopg.Error as exc:
            # Not every OperationalError means the connection is gone (lock_timeout is
            # one too): only a closed connection is replaced.
            conn = self._conn
            if conn is not None and conn.closed:
                self._discard(exc)
            raise

    def _discard(self, exc: BaseException, *, reconnecting: bool = False) -> None:
        """Drop a connection that failed, so that the next call starts on a fresh one."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            if reconnecting:
                _logger.info("telemetry state database %s: %s; reconnecting", self._redacted(), exc)
            else:
                _logger.warning(
                    "telemetry state database %s: %s; will reconnect", self._redacted(), exc
                )
            with contextlib.suppress(psycopg.Error):  # broken already: only tidying up
                conn.close()

    def _redacted(self) -> str:
        """The URL without its password, for log messages."""
        try:
            info = conninfo_to_dict(self._url)
        except psycopg.ProgrammingError:
            return "(unparsable URL)"
        host = info.get("host") or "localhost"
        port = info.get("port")
        dbname = info.get("dbname") or ""
        return f"{host}{':' + str(port) if port else ''}/{dbname}"


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or the query) replaced by ``***``.

    Example:
        >>> redact_url("postgresql://app:pw@db/telemetry?sslmode=require&password=pw")
        'postgresql://app:***@db/telemetry?sslmode=require&password=***'
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostinfo}"
    query = "&".join(
        f"{key}=***" if key == "password" else pair
        for pair in parts.query.split("&")
        if pair
        for key in [pair.partition("=")[0]]
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
