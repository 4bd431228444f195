"""The state store's logic in portable SQL; subclasses supply connection and locking.

Every operation is one short write transaction that holds the store's exclusive lock
(SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so every process of an
installation sees one consistent state: one installation id, one consent decision, one
initial report, and counts that are summed, frozen into a report and cleared atomically.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._counts import Counts
from .._instruments import OVERFLOW_COMMAND
from .._license import LicenseKey
from .._resource import ProductInfo
from ._model import InstallationState, OutboxItem, OutboxKind

SCHEMA_VERSION = 1

# initial_state column values
_INITIAL_NONE, _INITIAL_QUEUED, _INITIAL_DONE = 0, 1, 2

#: Connections a forked child inherited; referenced forever so they are never closed there.
_INHERITED: list[Any] = []

InitialBuilder = Callable[[InstallationState], dict[str, Any]]
FullBuilder = Callable[[InstallationState, Counts], dict[str, Any]]


class SqlStateStore(ABC):
    """Installation state in a SQL database (see :class:`InstallationState`).

    Thread-safe (one connection per process, guarded by a lock) and fork-safe (a child
    process opens its own connection on first use).
    """

    #: DB-API parameter marker of the driver; the SQL below is written with ``?``.
    paramstyle = "?"

    def __init__(self, location: str) -> None:
        self.location = location
        self._lock = threading.RLock()
        self._lock_pid = os.getpid()
        self._conn: Any = None
        self._pid = os.getpid()
        self._forked_mid_transaction = False
        self._held_for_fork = False
        self._depth = 0  # transactions under way in this process (a fork may come from one)
        if self.hold_lock_across_fork and hasattr(os, "register_at_fork"):
            self_ref = weakref.ref(self)
            os.register_at_fork(
                before=lambda: _call(self_ref, "_before_fork"),
                after_in_parent=lambda: _call(self_ref, "_after_fork_in_parent"),
                after_in_child=lambda: _call(self_ref, "_after_fork_in_child"),
            )

    #: SQLite keeps per-process lock bookkeeping in memory: a child that inherits it in the
    #: middle of a transaction waits forever on its own file. Such stores hold their lock
    #: across os.fork() (briefly: the application's fork must not wait on telemetry).
    hold_lock_across_fork = False
    _FORK_WAIT = 0.2

    def _before_fork(self) -> None:
        held = self._own_lock().acquire(timeout=self._FORK_WAIT)
        if held and self._depth:  # forked from inside a transaction, on this very thread
            self._lock.release()
            held = False
        self._held_for_fork = held

    def _after_fork_in_parent(self) -> None:
        if self._held_for_fork:
            self._lock.release()

    def _after_fork_in_child(self) -> None:
        # The lock could not be taken in time: a transaction was under way, and this child
        # must not touch the store (the parent goes on reporting for the installation).
        self._forked_mid_transaction = not self._held_for_fork

    # -- what a dialect provides ------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """Open a DB-API connection with the schema in place."""

    @abstractmethod
    def _begin_exclusive(self, cur: Any) -> None:
        """Start a transaction that excludes every other writer of this installation."""

    @property
    @abstractmethod
    def _counts_seq_column(self) -> str:
        """DDL of the auto-incrementing column that keeps counts in first-seen order."""

    # -- plumbing ---------------------------------------------------------------------
    def _sql(self, statement: str) -> str:
        return statement if self.paramstyle == "?" else statement.replace("?", self.paramstyle)

    def _connection(self) -> Any:
        if self._conn is not None and self._pid != os.getpid():
            # A forked child must not share the parent's connection (or its locks), nor
            # close it: closing a SQLite connection may checkpoint and remove the WAL the
            # parent is using. It is kept referenced, never finalised, in the child.
            _INHERITED.append(self._conn)
            self._conn = None
            self._pid = os.getpid()
        if self._conn is None:
            self._conn = self._connect()
            self._pid = os.getpid()  # first opened in a forked child: it is the child's
        return self._conn

    def _own_lock(self) -> threading.RLock:
        if self._lock_pid != os.getpid():
            # A forked child must not wait on its parent's lock: a parent thread may have
            # held it at the fork, and nobody would ever release it in the child.
            self._lock = threading.RLock()
            self._lock_pid = os.getpid()
        return self._lock

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        if self._forked_mid_transaction:
            raise RuntimeError(
                "this process was forked while the telemetry state was being written; "
                "its telemetry is off (the parent process reports for the installation)"
            )
        with self._own_lock():
            conn = self._connection()
            cur = conn.cursor()
            self._depth += 1
            try:
                self._begin_exclusive(cur)
                yield cur
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()
            finally:
                self._depth -= 1
                cur.close()

    def _exec(self, cur: Any, statement: str, params: tuple[Any, ...] = ()) -> Any:
        cur.execute(self._sql(statement), params)
        return cur

    def schema_statements(self) -> list[str]:
        """DDL of schema version 1 (later versions add migrations, never edit this)."""
        return [
            "CREATE TABLE IF NOT EXISTS telemetry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE IF NOT EXISTS telemetry_installation (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                installation_id TEXT NOT NULL,
                consent INTEGER,
                consent_changed_at DOUBLE PRECISION,
                initial_state INTEGER NOT NULL DEFAULT 0,
                last_report_at DOUBLE PRECISION,
                license_key TEXT,
                product TEXT)""",
            f"""CREATE TABLE IF NOT EXISTS telemetry_counts (
                seq {self._counts_seq_column},
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                count BIGINT NOT NULL,
                UNIQUE (kind, name))""",
            """CREATE TABLE IF NOT EXISTS telemetry_outbox (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL,
                lease_owner TEXT,
                lease_until DOUBLE PRECISION)""",
        ]

    def _create_schema(self, cur: Any) -> None:
        for statement in self.schema_statements():
            cur.execute(statement)
        row = self._exec(
            cur, "SELECT value FROM telemetry_meta WHERE key = ?", ("schema_version",)
        ).fetchone()
        if row is None:
            self._exec(
                cur,
                "INSERT INTO telemetry_meta (key, value) VALUES (?, ?)",
                ("schema_version", str(SCHEMA_VERSION)),
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise RuntimeError(
                f"state schema version {row[0]} is newer than this library's {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        with self._own_lock():
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- reading ----------------------------------------------------------------------
    def _read(self, cur: Any) -> InstallationState | None:
        row = self._exec(
            cur,
            "SELECT installation_id, consent, consent_changed_at, initial_state,"
            " last_report_at, license_key, product FROM telemetry_installation",
        ).fetchone()
        if row is None:
            return None
        installation_id, consent, changed_at, initial, last_report_at, key, product = row
        return InstallationState(
            installation_id=installation_id,
            consent=None if consent is None else bool(consent),
            consent_changed_at=changed_at,
            initial_report_done=initial == _INITIAL_DONE,
            last_report_at=last_report_at,
            license_key=None if key is None else LicenseKey.from_json(key),
            product=None if product is None else ProductInfo.from_json(json.loads(product)),
        )

    def _ensure(self, cur: Any) -> InstallationState:
        state = self._read(cur)
        if state is None:
            self._exec(
                cur,
                "INSERT INTO telemetry_installation (singleton, installation_id) VALUES (1, ?)",
                (str(uuid.uuid4()),),
            )
            state = self._read(cur)
            assert state is not None
        return state

    def read(self) -> InstallationState:
        """The current state (creating the installation on first use)."""
        with self._transaction() as cur:
            return self._ensure(cur)

    def pending_counts(self) -> Counts:
        """Counts stored and not yet frozen into a report."""
        with self._transaction() as cur:
            return self._counts(cur)

    def _counts(self, cur: Any) -> Counts:
        counts = Counts()
        rows = self._exec(cur, "SELECT kind, name, count FROM telemetry_counts ORDER BY seq")
        for kind, name, n in rows.fetchall():
            (counts.commands if kind == "command" else counts.metrics)[name] = int(n)
        return counts

    # -- consent, license, product ----------------------------------------------------
    def bootstrap(
        self, *, initialize: bool, license_key: LicenseKey | None, now: float
    ) -> InstallationState:
        """First use by a process: create the installation, apply first-start settings.

        ``initialize`` gives consent only while no decision was ever made (first start).
        """
        with self._transaction() as cur:
            state = self._ensure(cur)
            if initialize and state.consent is None:
                self._set_consent(cur, True, now)
            if license_key is not None:
                self._exec(
                    cur,
                    "UPDATE telemetry_installation SET license_key = ?",
                    (license_key.to_json(),),
                )
            return self._ensure(cur)

    def set_consent(self, enabled: bool, now: float) -> InstallationState:
        """The toggle. Enabling starts a fresh period with no counts from before consent;
        disabling forgets unsent counts and full reports (consent was withdrawn)."""
        with self._transaction() as cur:
            state = self._ensure(cur)
            if state.consent is not enabled:
                self._set_consent(cur, enabled, now)
            return self._ensure(cur)

    def _set_consent(self, cur: Any, enabled: bool, now: float) -> None:
        self._exec(cur, "DELETE FROM telemetry_counts")
        self._exec(cur, "DELETE FROM telemetry_outbox WHERE kind = ?", ("full",))
        self._exec(
            cur,
            "UPDATE telemetry_installation SET consent = ?, consent_changed_at = ?,"
            " last_report_at = ?",
            (int(enabled), now, now if enabled else None),
        )

    def set_license_key(self, key: LicenseKey | None) -> None:
        """Set or (with ``None``) remove the license key."""
        with self._transaction() as cur:
            self._ensure(cur)
            self._exec(
                cur,
                "UPDATE telemetry_installation SET license_key = ?",
                (None if key is None else key.to_json(),),
            )

    def save_product(self, info: ProductInfo) -> None:
        """Remember the product description so other processes (the CLI) can report it."""
        with self._transaction() as cur:
            self._ensure(cur)
            self._exec(
                cur,
                "UPDATE telemetry_installation SET product = ?",
                (json.dumps(info.to_json(), sort_keys=True),),
            )

    # -- counts -----------------------------------------------------------------------
    def add_counts(self, counts: Counts, *, window_start: float, max_commands: int) -> bool:
        """Add the counts of one collection window, checkpointing them durably.

        Returns False (and stores nothing) unless consent is on and was already on when the
        window started. Commands past ``max_commands`` distinct names are folded into
        :data:`OVERFLOW_COMMAND`.
        """
        if counts.is_empty():
            return True
        with self._transaction() as cur:
            state = self._ensure(cur)
            if not state.enabled or (state.consent_changed_at or 0) > window_start:
                return False
            known = {
                name
                for (name,) in self._exec(
                    cur, "SELECT name FROM telemetry_counts WHERE kind = ?", ("command",)
                ).fetchall()
            }
            rows: list[tuple[str, str, int]] = []
            for name, n in counts.commands.items():
                if n <= 0:
                    continue
                if name not in known:
                    if len(known) >= max_commands - 1 and name != OVERFLOW_COMMAND:
                        name = OVERFLOW_COMMAND
                    known.add(name)
                rows.append(("command", name, n))
            rows.extend(("metric", name, n) for name, n in counts.metrics.items() if n > 0)
            for row in rows:
                self._exec(
                    cur,
                    "INSERT INTO telemetry_counts (kind, name, count) VALUES (?, ?, ?)"
                    " ON CONFLICT (kind, name) DO UPDATE"
                    " SET count = telemetry_counts.count + excluded.count",
                    row,
                )
            return True

    # -- the outbox: frozen reports until acknowledged ---------------------------------
    def _insert_outbox(
        self, cur: Any, kind: OutboxKind, body: dict[str, Any], now: float
    ) -> OutboxItem:
        item = OutboxItem(str(uuid.uuid4()), kind, json.dumps(body), now, 0, now)
        self._exec(
            cur,
            "INSERT INTO telemetry_outbox (id, kind, body, created_at, attempts, next_attempt_at)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            (item.id, kind, item.body, now, now),
        )
        return item

    def queue_initial_report(self, build: InitialBuilder, now: float) -> OutboxItem | None:
        """Freeze the initial report, once per installation ever (None if it already was)."""
        with self._transaction() as cur:
            self._ensure(cur)
            (initial,) = self._exec(
                cur, "SELECT initial_state FROM telemetry_installation"
            ).fetchone()
            if initial != _INITIAL_NONE:
                return None
            item = self._insert_outbox(cur, "initial", build(self._ensure(cur)), now)
            self._exec(
                cur, "UPDATE telemetry_installation SET initial_state = ?", (_INITIAL_QUEUED,)
            )
            return item

    def freeze_full_report(
        self, build: FullBuilder, now: float, *, period: float, force: bool = False
    ) -> OutboxItem | None:
        """Freeze the pending counts into a full report when one is due.

        Due means: consent on, no full report already waiting, and ``period`` seconds since
        the period started (or ``force``, for the shutdown report and ``send``). The counts
        move into the report in the same transaction, so none is reported twice.
        """
        with self._transaction() as cur:
            state = self._ensure(cur)
            if not state.enabled:
                return None
            waiting = self._exec(
                cur, "SELECT COUNT(*) FROM telemetry_outbox WHERE kind = ?", ("full",)
            ).fetchone()[0]
            if waiting:
                return None
            started = state.last_report_at if state.last_report_at is not None else now
            if not force and now < started + period:
                return None
            item = self._insert_outbox(cur, "full", build(state, self._counts(cur)), now)
            self._exec(cur, "DELETE FROM telemetry_counts")
            return item

    def claim(
        self,
        owner: str,
        now: float,
        lease: float,
        *,
        due_only: bool = True,
        exclude: Sequence[str] = (),
    ) -> OutboxItem | None:
        """Take the oldest report that is due (any, unless ``due_only``) and not leased by
        another sender.

        The lease keeps two processes from sending one report at once; if its holder dies,
        the lease runs out and another process retries with the same Idempotency-Key.
        """
        due, due_params = ("next_attempt_at <= ? AND ", (now,)) if due_only else ("", ())
        if exclude:
            due += f"id NOT IN ({', '.join('?' for _ in exclude)}) AND "
            due_params = (*due_params, *exclude)
        with self._transaction() as cur:
            row = self._exec(
                cur,
                "SELECT id, kind, body, created_at, attempts, next_attempt_at"
                f" FROM telemetry_outbox WHERE {due}"
                "(lease_until IS NULL OR lease_until < ? OR lease_owner = ?)"
                " ORDER BY created_at, id LIMIT 1",
                (*due_params, now, owner),
            ).fetchone()
            if row is None:
                return None
            self._exec(
                cur,
                "UPDATE telemetry_outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                (owner, now + lease, row[0]),
            )
            return OutboxItem(row[0], row[1], row[2], row[3], row[4], row[5])

    def acknowledge(self, item: OutboxItem, now: float) -> None:
        """The receiver took the report: forget it; a full report starts the next period."""
        self._finish(item, now)

    def drop(self, item: OutboxItem, now: float) -> None:
        """The receiver refused the report for good (4xx): forget it like an acknowledged one."""
        self._finish(item, now)

    def _finish(self, item: OutboxItem, now: float) -> None:
        with self._transaction() as cur:
            deleted = self._exec(
                cur, "DELETE FROM telemetry_outbox WHERE id = ?", (item.id,)
            ).rowcount
            if item.kind == "initial":
                self._exec(
                    cur, "UPDATE telemetry_installation SET initial_state = ?", (_INITIAL_DONE,)
                )
            elif deleted:
                self._exec(cur, "UPDATE telemetry_installation SET last_report_at = ?", (now,))

    def release_leases(self, owner: str) -> None:
        """Free every report ``owner`` holds (a process that gives up sending at exit)."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE telemetry_outbox SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_owner = ?",
                (owner,),
            )

    def postpone(self, item: OutboxItem, *, attempts: int, next_attempt_at: float) -> None:
        """Release a report that failed this cycle until ``next_attempt_at``."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "UPDATE telemetry_outbox SET attempts = ?, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (attempts, next_attempt_at, item.id),
            )

    def outbox(self) -> list[OutboxItem]:
        """Every report still waiting (for status displays and tests)."""
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                "SELECT id, kind, body, created_at, attempts, next_attempt_at"
                " FROM telemetry_outbox ORDER BY created_at, id",
            ).fetchall()
            return [OutboxItem(*row) for row in rows]

    def next_wakeup(self, now: float, *, period: float, sending: bool = True) -> float:
        """The earliest time a step can make progress: a waiting report's next attempt (only
        when ``sending``), or the end of the period (only when no full report is waiting)."""
        with self._transaction() as cur:
            state = self._ensure(cur)
            candidates: list[float] = []
            row = self._exec(
                cur,
                "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > next_attempt_at"
                " THEN lease_until ELSE next_attempt_at END),"
                " SUM(CASE WHEN kind = ? THEN 1 ELSE 0 END) FROM telemetry_outbox",
                ("full",),
            ).fetchone()
            if sending and row[0] is not None:
                candidates.append(float(row[0]))
            if state.enabled and not row[1]:
                started = state.last_report_at if state.last_report_at is not None else now
                candidates.append(started + period)
            return min(candidates) if candidates else now + period


def _call(ref: weakref.ref[SqlStateStore], method: str) -> None:
    store = ref()
    if store is not None:
        getattr(store, method)()
