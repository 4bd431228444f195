"""The embedded state store: one SQLite file shared by every process of an installation."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from ._sql import SqlStateStore

_logger = logging.getLogger("otel_camunda_telemetry")

# Writers queue behind each other for this long before SQLite gives up; transactions here
# last milliseconds, so this is only reached when something is badly wrong.
_BUSY_TIMEOUT_MS = 30_000


def fallback_state_path() -> Path:
    """Where state goes when the configured location is not writable."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    import tempfile  # only on this rare path: it costs ~3 ms of import time

    return Path(tempfile.gettempdir()) / f"otel-camunda-telemetry-{uid}" / "state.sqlite3"


class SQLiteStateStore(SqlStateStore):
    """State in a SQLite file (WAL mode, ``BEGIN IMMEDIATE`` for every write).

    A corrupt file is moved aside (``<name>.corrupt-<time>``) with a warning and a fresh one
    is used; an unwritable location falls back to a per-user temporary directory, then to
    memory, so the application never notices.

    Example:
        >>> import os, tempfile
        >>> store = SQLiteStateStore(os.path.join(tempfile.mkdtemp(), "state.sqlite3"))
        >>> len(store.read().installation_id)
        36
        >>> store.close()
    """

    hold_lock_across_fork = True

    def __init__(self, path: str | os.PathLike[str], *, fallback: bool = True) -> None:
        super().__init__(os.fspath(path))
        self.fallback = fallback

    @property
    def path(self) -> str:
        """The file in use (``location`` changes when the configured one was unusable)."""
        return self.location

    @property
    def _counts_seq_column(self) -> str:
        return "INTEGER PRIMARY KEY AUTOINCREMENT"

    def _begin_exclusive(self, cur: Any) -> None:
        cur.execute("BEGIN IMMEDIATE")

    def _connect(self) -> sqlite3.Connection:
        candidates = [self.location]
        if self.fallback:
            candidates.append(str(fallback_state_path()))
        for candidate in candidates:
            try:
                conn = self._open_checked(candidate)
            except (OSError, sqlite3.Error) as exc:
                if isinstance(exc, sqlite3.OperationalError) and _is_transient(exc):
                    # Another process holds the file: wait for the next call, never move
                    # to another location (that would be a second installation).
                    raise
                if not self.fallback:
                    raise OSError(f"telemetry state {candidate} is not usable ({exc})") from exc
                _logger.warning(
                    "telemetry state %s is not usable (%s); trying the next location",
                    candidate,
                    exc,
                )
                continue
            self.location = candidate
            return conn
        _logger.warning("telemetry state is kept in memory: it will not survive a restart")
        self.location = ":memory:"
        return self._open(":memory:")

    def _open(self, path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            self._create_schema(conn.cursor())
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_checked(self, path: str) -> sqlite3.Connection:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._open(path)
            self._check(conn)
            return conn
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _is_corruption(exc):
                raise
            aside = f"{path}.corrupt-{int(time.time())}"
            _logger.warning(
                "telemetry state %s is corrupt (%s); moved it to %s and started a fresh one",
                path,
                exc,
                aside,
            )
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.replace(path + suffix, aside + suffix)
            return self._open(path)

    @staticmethod
    def _check(conn: sqlite3.Connection) -> None:
        row = conn.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            conn.close()
            raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
        # A state file from another program would pass quick_check; insist on our columns.
        conn.execute("SELECT installation_id, consent, initial_state FROM telemetry_installation")


def _is_transient(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_corruption(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "no such column" in text
