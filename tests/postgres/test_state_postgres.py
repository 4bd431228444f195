"""PostgresStateStore against a real server: the SQLite store's behaviour, plus failures."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _cluster import PostgresServer, require_psycopg, wait_until

from otel_camunda_telemetry._counts import Counts
from otel_camunda_telemetry._state import open_store
from otel_camunda_telemetry._state._sql import SCHEMA_VERSION

psycopg = require_psycopg()

from otel_camunda_telemetry._state._postgres import PostgresStateStore  # noqa: E402  (needs psycopg)


@pytest.fixture
def store(pg_database: str) -> Iterator[PostgresStateStore]:
    opened = open_store(pg_database)
    assert isinstance(opened, PostgresStateStore)
    try:
        yield opened
    finally:
        opened.close()


def initial(state: Any) -> dict[str, Any]:
    return {"installation": state.installation_id, "kind": "initial"}


def full(state: Any, counts: Counts) -> dict[str, Any]:
    return {"installation": state.installation_id, "commands": counts.commands}


def test_schema_is_created_on_first_use_and_versioned(
    store: PostgresStateStore, pg_database: str
) -> None:
    store.read()
    with psycopg.connect(pg_database) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        version = conn.execute("SELECT value FROM telemetry_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)
    assert {"telemetry_meta", "telemetry_installation", "telemetry_counts"} <= tables


def test_a_newer_schema_is_refused_rather_than_misread(pg_database: str) -> None:
    first = open_store(pg_database)
    first.read()
    first.close()
    with psycopg.connect(pg_database) as conn:
        conn.execute("UPDATE telemetry_meta SET value = '99' WHERE key = 'schema_version'")
    later = open_store(pg_database)
    try:
        with pytest.raises(RuntimeError, match="newer"):
            later.read()
    finally:
        later.close()


def test_every_store_on_the_database_shares_installation_and_consent(pg_database: str) -> None:
    a, b = open_store(pg_database), open_store(pg_database)
    try:
        assert a.read().installation_id == b.read().installation_id
        assert b.bootstrap(initialize=True, license_key=None, now=time.time()).enabled
        assert a.read().enabled
        a.set_consent(False, time.time())
        assert b.read().consent is False
        # INITIALIZE only decides a first start: a later start cannot override the toggle.
        assert not b.bootstrap(initialize=True, license_key=None, now=time.time()).enabled
    finally:
        a.close()
        b.close()


def race(stores: list[Any], action: Any) -> list[Any]:
    """Run ``action(store)`` on every store at once, on connections opened beforehand."""
    for s in stores:
        s.pending_counts()  # connected, schema in place, no installation created yet
    barrier = threading.Barrier(len(stores))
    results: list[Any] = []

    def run(s: Any) -> None:
        barrier.wait()
        results.append(action(s))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == len(stores)
    return results


def test_concurrent_first_use_creates_one_installation(pg_database: str) -> None:
    stores = [open_store(pg_database) for _ in range(8)]
    try:
        ids = race(stores, lambda s: s.read().installation_id)
    finally:
        for s in stores:
            s.close()
    assert len(set(ids)) == 1


def test_initial_report_is_queued_once_and_counts_are_summed_exactly(pg_database: str) -> None:
    stores = [open_store(pg_database) for _ in range(4)]
    now = time.time()
    stores[0].bootstrap(initialize=True, license_key=None, now=now - 10)
    queued = race(stores, lambda s: s.queue_initial_report(initial, now))
    assert sum(item is not None for item in queued) == 1

    def add_many(s: Any) -> None:
        for _ in range(50):
            s.add_counts(
                Counts({"StartProcessInstanceCmd": 1}, {"root-process-instance-start": 2}),
                window_start=now,
                max_commands=100,
            )

    race(stores, add_many)
    pending = stores[1].pending_counts()
    assert pending.commands == {"StartProcessInstanceCmd": 200}
    assert pending.metrics == {"root-process-instance-start": 400}

    report = stores[2].freeze_full_report(full, now, period=3600, force=True)
    assert report is not None and '"StartProcessInstanceCmd": 200' in report.body
    assert stores[3].freeze_full_report(full, now, period=3600, force=True) is None  # waiting
    assert stores[0].pending_counts().is_empty()
    for s in stores:
        s.close()


def test_the_reporting_period_is_shared(store: PostgresStateStore, pg_database: str) -> None:
    start = time.time()
    store.bootstrap(initialize=True, license_key=None, now=start)
    other = open_store(pg_database)
    try:
        assert other.freeze_full_report(full, start + 5, period=10) is None  # not due yet
        item = other.freeze_full_report(full, start + 11, period=10)
        assert item is not None
        claimed = store.claim("node-a", start + 11, lease=60)
        assert claimed is not None and claimed.id == item.id
        assert other.claim("node-b", start + 11, lease=60) is None  # leased by node-a
        store.acknowledge(claimed, start + 12)
        # The next period starts at the acknowledgement, for every node.
        assert other.freeze_full_report(full, start + 21, period=10) is None
        assert other.freeze_full_report(full, start + 22.5, period=10) is not None
    finally:
        other.close()


def test_a_connection_lost_while_idle_is_replaced_without_an_error(
    store: PostgresStateStore, pg_database: str
) -> None:
    installation = store.read().installation_id
    with psycopg.connect(pg_database, autocommit=True) as admin:
        (ended,) = admin.execute(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'otel-camunda-telemetry' AND datname = current_database()"
        ).fetchone()
    assert ended == 1
    assert store.read().installation_id == installation


def test_calls_fail_while_the_server_is_down_and_work_once_it_is_back(
    store: PostgresStateStore, postgres_server: PostgresServer
) -> None:
    installation = store.read().installation_id
    postgres_server.stop()
    with pytest.raises(psycopg.OperationalError):
        store.read()
    postgres_server.start()
    wait_until(lambda: _reads(store), "the store to reconnect", timeout=60)
    assert store.read().installation_id == installation


def _reads(store: PostgresStateStore) -> bool:
    try:
        store.read()
    except psycopg.OperationalError:
        return False
    return True


def test_an_unreachable_database_raises_promptly_and_recovers() -> None:
    # A server that accepts connections and never answers: the worst case, a hang.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = PostgresStateStore(f"postgresql://postgres@127.0.0.1:{port}/x")
        try:
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError):
                store.read()
            # Bounded by the connect timeout, not forever (generous: a shared machine).
            assert time.monotonic() - started < 60
            with pytest.raises(psycopg.OperationalError, match="unavailable"):
                store.read()  # within the reconnect interval: refused without waiting again
        finally:
            store.close()
            _drain(silent)


def _drain(listener: socket.socket) -> None:
    listener.setblocking(False)
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        conn.close()


def test_schemas_keep_installations_in_one_database_apart(pg_database: str) -> None:
    names = [f"product_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE SCHEMA {name}")
    stores = [open_store(f"{pg_database}?options=-csearch_path%3D{name}") for name in names]
    try:
        ids = [s.read().installation_id for s in stores]
        assert ids[0] != ids[1]
        stores[0].set_consent(True, time.time())
        assert stores[1].read().consent is None
    finally:
        for s in stores:
            s.close()


def test_a_node_stuck_holding_the_lock_delays_others_only_up_to_lock_timeout(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_camunda_telemetry._state import _postgres

    monkeypatch.setitem(_postgres._SESSION_SETTINGS, "lock_timeout", "500ms")
    store = open_store(pg_database)
    try:
        installation = store.read().installation_id
        with psycopg.connect(pg_database) as stuck:
            stuck.execute("SELECT pg_advisory_xact_lock(%s)", (_postgres.ADVISORY_LOCK_KEY,))
            with pytest.raises(psycopg.errors.LockNotAvailable):
                store.read()
            stuck.rollback()
        # The same connection goes on working once the lock is free.
        assert store.read().installation_id == installation
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(
    store: PostgresStateStore,
) -> None:
    installation = store.read().installation_id
    backend = store._conn.info.backend_pid  # the parent's server session
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            ok = store.read().installation_id == installation
            ok = ok and store._conn.info.backend_pid != backend
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent goes on with its own session: the child neither used nor ended it.
    assert store.read().installation_id == installation
    assert store._conn.info.backend_pid == backend


def test_status_never_shows_the_database_password(pg_database: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    from otel_camunda_telemetry._control import TelemetryControl

    parts = urlsplit(pg_database)
    # Trust authentication ignores the password; it is there to prove it is never shown.
    url = urlunsplit(parts._replace(netloc=f"postgres:hunter2@{parts.hostname}:{parts.port}"))
    control = TelemetryControl(state=url)
    try:
        status = control.status()
    finally:
        control.close()
    assert "hunter2" not in json.dumps(status.to_json())
    assert status.state == url.replace("hunter2", "***")
