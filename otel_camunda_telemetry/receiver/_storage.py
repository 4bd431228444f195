"""Where received reports are kept: a small storage interface and its SQLite implementation.

The interface (:class:`ReportStore`) is what the WSGI app and the summary use, so that a
database server backend (``--db postgresql://...``) can be added next to SQLite without
touching them. SQLite runs in WAL mode with one writer connection per process behind a lock;
``BEGIN IMMEDIATE`` makes duplicate check, flag decision and insert one atomic step even
when several processes (e.g. gunicorn workers) share the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from ._flagging import FlagPolicy

__all__ = [
    "AddResult",
    "NewReport",
    "ReportStore",
    "SQLiteReportStore",
    "StoredReport",
    "open_store",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    kind TEXT NOT NULL,
    installation TEXT NOT NULL,
    product_name TEXT NOT NULL,
    product_version TEXT NOT NULL,
    product_edition TEXT NOT NULL,
    ip_hash TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    flagged TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_installation
    ON reports (installation, kind, received_at);
CREATE INDEX IF NOT EXISTS reports_by_time ON reports (received_at);
"""
_COLUMNS = (
    "id, received_at, kind, installation, product_name, product_version, product_edition,"
    " ip_hash, idempotency_key, flagged, body"
)
_BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class NewReport:
    """A validated report about to be stored (``body`` is the JSON text as received)."""

    received_at: float
    kind: str
    installation: str
    product_name: str
    product_version: str
    product_edition: str
    ip_hash: str
    idempotency_key: str | None
    body: str

    def row(self, flagged: str | None) -> tuple[object, ...]:
        """The values of the ``reports`` columns after ``id``, in their order."""
        return (
            self.received_at,
            self.kind,
            self.installation,
            self.product_name,
            self.product_version,
            self.product_edition,
            self.ip_hash,
            self.idempotency_key,
            flagged,
            self.body,
        )


@dataclass(frozen=True)
class StoredReport:
    """A report as kept by the store.

    Attributes:
        id: Store-assigned, increasing.
        received_at: Seconds since the epoch (UTC).
        flagged: Why the report looks abusive (e.g. ``"too-frequent"``), else ``None``.
        body: The decoded report.
    """

    id: int
    received_at: float
    kind: str
    installation: str
    product_name: str
    product_version: str
    product_edition: str
    ip_hash: str
    idempotency_key: str | None
    flagged: str | None
    body: dict[str, Any]


@dataclass(frozen=True)
class AddResult:
    """Outcome of :meth:`ReportStore.add`: a new row, or the row an earlier delivery made."""

    status: Literal["stored", "duplicate"]
    id: int
    flagged: str | None


@runtime_checkable
class ReportStore(Protocol):
    """What the receiver needs from a storage backend."""

    def add(self, report: NewReport, policy: FlagPolicy) -> AddResult:
        """Store ``report`` unless its idempotency key was seen; flag it per ``policy``."""
        ...

    def reports(self, *, since: float | None = None) -> list[StoredReport]:
        """All stored reports (received at or after ``since``), oldest first."""
        ...

    def count(self) -> int:
        """How many reports are stored."""
        ...

    def close(self) -> None:
        """Release connections; safe to call twice."""
        ...


class SQLiteReportStore:
    """:class:`ReportStore` in one SQLite file.

    Example:
        >>> import tempfile
        >>> store = SQLiteReportStore(tempfile.mkdtemp() + "/r.sqlite3")
        >>> store.count()
        0
        >>> store.close()
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if str(path) == ":memory:":
            raise ValueError("the receiver needs a database file, not :memory:")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._synchronous = synchronous
        # One writer connection, shared by all request threads behind the lock: SQLite has
        # a single writer anyway, and this keeps writers of one process from busy-waiting.
        self._writer: sqlite3.Connection | None = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        # Each statement is idempotent (IF NOT EXISTS), so concurrent first starts are fine.
        self._writer.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # FULL: a report is on disk before it is acknowledged (WAL + NORMAL could lose the
        # last commits on power failure, which would break "acknowledged means stored").
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def add(self, report: NewReport, policy: FlagPolicy) -> AddResult:
        """Store ``report`` atomically; see :meth:`ReportStore.add`."""
        with self._lock:
            conn = self._require_writer()
            with self._transaction(conn):
                if report.idempotency_key is not None:
                    row = conn.execute(
                        "SELECT id, flagged FROM reports WHERE idempotency_key = ?",
                        (report.idempotency_key,),
                    ).fetchone()
                    if row is not None:
                        return AddResult("duplicate", row[0], row[1])
                lookback = policy.lookback(report.kind)
                since = float("-inf") if lookback is None else report.received_at - lookback
                (previous,) = conn.execute(
                    "SELECT COUNT(*) FROM reports"
                    " WHERE installation = ? AND kind = ? AND received_at > ?",
                    (report.installation, report.kind, since),
                ).fetchone()
                flagged = policy.reason(report.kind, previous)
                cursor = conn.execute(
                    f"INSERT INTO reports ({_COLUMNS}) VALUES (NULL,?,?,?,?,?,?,?,?,?,?)",
                    report.row(flagged),
                )
                assert cursor.lastrowid is not None
                return AddResult("stored", cursor.lastrowid, flagged)

    def reports(self, *, since: float | None = None) -> list[StoredReport]:
        """All stored reports, oldest first; see :meth:`ReportStore.reports`."""
        # Readers get their own short-lived connection: WAL lets them run beside the writer.
        with contextlib.closing(self._connect()) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM reports WHERE received_at >= ? ORDER BY id",
                (float("-inf") if since is None else since,),
            ).fetchall()
        return [stored_report(row) for row in rows]

    def count(self) -> int:
        """How many reports are stored."""
        with contextlib.closing(self._connect()) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM reports").fetchone()
        return int(n)

    def close(self) -> None:
        """Close the writer connection (idempotent)."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def _require_writer(self) -> sqlite3.Connection:
        if self._writer is None:
            raise RuntimeError("the report store is closed")
        return self._writer

    def __repr__(self) -> str:
        return f"SQLiteReportStore({str(self.path)!r})"


def open_store(db: str | os.PathLike[str]) -> ReportStore:
    """Open the store named by ``db``: a SQLite file path, or a ``postgresql://`` URL.

    Example:
        >>> open_store("mysql://localhost/telemetry")
        Traceback (most recent call last):
        ...
        ValueError: no receiver storage backend for 'mysql'; use a SQLite file or postgresql:// URL
    """
    text = os.fspath(db)
    scheme, sep, _ = text.partition("://")
    if sep:
        if scheme.lower() in {"sqlite", "file"}:
            return SQLiteReportStore(text.split("://", 1)[1])
        if scheme.lower() in {"postgresql", "postgres"}:
            from ._storage_postgres import PostgresReportStore  # the [postgres] extra

            return PostgresReportStore(text)
        raise ValueError(
            f"no receiver storage backend for {scheme!r}; use a SQLite file or postgresql:// URL"
        )
    return SQLiteReportStore(text)


def stored_report(row: tuple[Any, ...]) -> StoredReport:
    """A ``reports`` row (columns in ``_COLUMNS`` order), from either store, as a value."""
    (id_, received_at, kind, installation, name, version, edition, ip_hash, key, flagged, body) = (
        row
    )
    return StoredReport(
        id=int(id_),
        received_at=float(received_at),
        kind=kind,
        installation=installation,
        product_name=name,
        product_version=version,
        product_edition=edition,
        ip_hash=ip_hash,
        idempotency_key=key,
        flagged=flagged,
        body=json.loads(body),
    )
