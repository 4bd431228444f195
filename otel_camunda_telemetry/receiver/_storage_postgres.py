"""Received reports in PostgreSQL, for a telemetry service that outgrows one machine.

Selected by ``--db postgresql://...`` (needs the ``[postgres]`` extra). Any number of
receiver processes, on any number of hosts, may share the database: the duplicate check,
the flag decision and the insert of one report are one transaction under an advisory lock
per installation, so a report retried to two receivers at once is stored once and flags are
counted exactly. The IP-hashing secret lives in the database too, so every receiver hashes
a client to the same value.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ._flagging import FlagPolicy
from ._storage import AddResult, NewReport, StoredReport, stored_report

__all__ = ["PostgresReportStore"]

_log = logging.getLogger("otel_camunda_telemetry.receiver")

SCHEMA_VERSION = 1

# Schema version 1. Later versions add migrations in _MIGRATIONS, never edit this.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS receiver_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS reports (
        id BIGSERIAL PRIMARY KEY,
        received_at DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        installation TEXT NOT NULL,
        product_name TEXT NOT NULL,
        product_version TEXT NOT NULL,
        product_edition TEXT NOT NULL,
        ip_hash TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        flagged TEXT,
        body TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS reports_by_installation"
    " ON reports (installation, kind, received_at)",
    "CREATE INDEX IF NOT EXISTS reports_by_time ON reports (received_at)",
)
#: ``version -> statements`` that bring the schema from ``version - 1`` to ``version``.
_MIGRATIONS: dict[int, tuple[str, ...]] = {}

_COLUMNS = (
    "id, received_at, kind, installation, product_name, product_version, product_edition,"
    " ip_hash, idempotency_key, flagged, body"
)
#: First half of every advisory lock key this store takes ("otcr"); the second half is
#: 0 for schema changes or a hash of the installation for its reports.
_LOCK_CLASS = 0x6F746372
_CONNECT_TIMEOUT = 5


class PostgresReportStore:
    """:class:`~otel_camunda_telemetry.receiver.ReportStore` in a PostgreSQL database.

    One connection per store behind a lock (reports are small and rare; scale out with
    more receiver processes). A lost connection is dropped and the next call reconnects;
    while the database is down, calls raise and the receiver answers 503 so that senders
    retry later.

    Example (with a server)::

        store = PostgresReportStore("postgresql://receiver@db.example/telemetry")
        app = create_app(store, secret=store.shared_secret())
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        with self._transaction(lock=0):
            pass  # connect now: a wrong URL fails at start, not at the first report

    # -- connection -------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self.url,
            connect_timeout=_CONNECT_TIMEOUT,
            autocommit=False,
            application_name="otel-camunda-telemetry-receiver",
        )
        try:
            conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            with conn.cursor() as cur:
                # Concurrent first starts of several receivers must not race on CREATE TABLE.
                cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_CLASS,))
                self._migrate(cur)
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _migrate(cur: psycopg.Cursor[Any]) -> None:
        for statement in _SCHEMA:
            cur.execute(statement)
        row = cur.execute("SELECT value FROM receiver_meta WHERE key = 'schema_version'").fetchone()
        version = 1 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"receiver schema version {version} is newer than this library's {SCHEMA_VERSION}"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target]:
                cur.execute(statement)
        cur.execute(
            "INSERT INTO receiver_meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )

    @contextlib.contextmanager
    def _transaction(self, *, lock: int | None) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction, under the advisory lock ``(_LOCK_CLASS, lock)`` unless None."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the report store is closed")
            if self._conn is not None and self._conn.closed:
                self._conn = None
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                with conn.cursor() as cur:
                    if lock is not None:
                        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, lock))
                    yield cur
                conn.commit()
            except psycopg.OperationalError as exc:
                # The connection is gone (restart, failover): the next call reconnects.
                _log.warning("report database unavailable (%s); will reconnect", exc)
                self._conn = None
                with contextlib.suppress(psycopg.Error):
                    conn.close()
                raise
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                raise

    # -- ReportStore --------------------------------------------------------------------
    def add(self, report: NewReport, policy: FlagPolicy) -> AddResult:
        """Store ``report`` unless its idempotency key was seen; flag it per ``policy``."""
        with self._transaction(lock=None) as cur:
            # Reports of one installation queue behind each other (hashtext fits the int4
            # half of the key); other installations proceed in parallel.
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (_LOCK_CLASS, report.installation),
            )
            if report.idempotency_key is not None:
                row = cur.execute(
                    "SELECT id, flagged FROM reports WHERE idempotency_key = %s",
                    (report.idempotency_key,),
                ).fetchone()
                if row is not None:
                    return AddResult("duplicate", int(row[0]), row[1])
            lookback = policy.lookback(report.kind)
            since = float("-inf") if lookback is None else report.received_at - lookback
            (previous,) = cur.execute(
                "SELECT COUNT(*) FROM reports"
                " WHERE installation = %s AND kind = %s AND received_at > %s",
                (report.installation, report.kind, since),
            ).fetchone() or (0,)
            flagged = policy.reason(report.kind, int(previous))
            # ON CONFLICT: the same key sent for another installation (whose lock we do not
            # hold) raced us; the first one wins, as with a duplicate.
            inserted = cur.execute(
                f"INSERT INTO reports ({_COLUMNS})"
                " VALUES (DEFAULT, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                report.row(flagged),
            ).fetchone()
            if inserted is None:
                row = cur.execute(
                    "SELECT id, flagged FROM reports WHERE idempotency_key = %s",
                    (report.idempotency_key,),
                ).fetchone()
                assert row is not None
                return AddResult("duplicate", int(row[0]), row[1])
            return AddResult("stored", int(inserted[0]), flagged)

    def reports(self, *, since: float | None = None) -> list[StoredReport]:
        """All stored reports (received at or after ``since``), oldest first."""
        with self._transaction(lock=None) as cur:
            rows = cur.execute(
                f"SELECT {_COLUMNS} FROM reports WHERE received_at >= %s ORDER BY id",
                (float("-inf") if since is None else since,),
            ).fetchall()
        return [stored_report(row) for row in rows]

    def count(self) -> int:
        """How many reports are stored."""
        with self._transaction(lock=None) as cur:
            row = cur.execute("SELECT COUNT(*) FROM reports").fetchone()
        return int(row[0]) if row else 0

    def shared_secret(self) -> bytes:
        """The IP-hashing key shared by every receiver on this database (made on first use)."""
        with self._transaction(lock=0) as cur:
            row = cur.execute(
                "SELECT value FROM receiver_meta WHERE key = 'ip_hash_secret'"
            ).fetchone()
            if row is not None:
                return bytes.fromhex(row[0])
            secret = secrets.token_bytes(32)
            cur.execute(
                "INSERT INTO receiver_meta (key, value) VALUES ('ip_hash_secret', %s)",
                (secret.hex(),),
            )
            return secret

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __repr__(self) -> str:
        try:
            info = conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            return "PostgresReportStore(<unparsable URL>)"
        host, port = info.get("host") or "localhost", info.get("port") or 5432
        where = f"{host}:{port}/{info.get('dbname') or ''}"
        return f"PostgresReportStore({where!r})"
