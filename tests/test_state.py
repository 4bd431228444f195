"""The SQLite state store: consent, counts, outbox and the file's failure modes."""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path

import pytest

from otel_camunda_telemetry import Counts, LicenseKey
from otel_camunda_telemetry._state import SQLiteStateStore

PERIOD = 100.0


def build_full(state, counts):  # type: ignore[no-untyped-def]
    return {"installation": state.installation_id, "counts": counts.commands}


def build_initial(state):  # type: ignore[no-untyped-def]
    return {"installation": state.installation_id, "enabled": state.enabled}


@pytest.fixture
def store(state_path: str):  # type: ignore[no-untyped-def]
    s = SQLiteStateStore(state_path)
    yield s
    s.close()


def test_installation_id_is_created_once_and_persists(state_path: str) -> None:
    first = SQLiteStateStore(state_path)
    ident = first.read().installation_id
    first.close()
    again = SQLiteStateStore(state_path)
    assert again.read().installation_id == ident
    again.close()


def test_initialize_applies_only_while_no_decision_was_made(store: SQLiteStateStore) -> None:
    assert store.bootstrap(initialize=False, license_key=None, now=1).consent is None
    assert store.bootstrap(initialize=True, license_key=None, now=2).consent is True
    store.set_consent(False, now=3)
    assert store.bootstrap(initialize=True, license_key=None, now=4).consent is False


def test_counts_before_consent_are_never_kept(store: SQLiteStateStore) -> None:
    assert not store.add_counts(Counts({"A": 1}), window_start=0, max_commands=10)
    store.set_consent(True, now=100)
    # A window that began before consent mixes pre-consent counts: dropped whole.
    assert not store.add_counts(Counts({"A": 1}), window_start=99, max_commands=10)
    assert store.add_counts(Counts({"A": 2}), window_start=100, max_commands=10)
    assert store.pending_counts().commands == {"A": 2}
    store.set_consent(False, now=150)
    assert store.pending_counts().is_empty()  # withdrawn consent forgets unsent counts


def test_full_report_freezes_counts_once_per_period(store: SQLiteStateStore) -> None:
    store.set_consent(True, now=0)
    store.add_counts(
        Counts({"A": 3}, {"root-process-instance-start": 1}), window_start=0, max_commands=10
    )
    assert store.freeze_full_report(build_full, now=50, period=PERIOD) is None
    item = store.freeze_full_report(build_full, now=100, period=PERIOD)
    assert item is not None and json.loads(item.body)["counts"] == {"A": 3}
    assert store.pending_counts().is_empty()
    # While it waits for the receiver, no second full report is made.
    assert store.freeze_full_report(build_full, now=300, period=PERIOD, force=True) is None
    store.acknowledge(item, now=120)
    assert store.read().last_report_at == 120
    assert store.freeze_full_report(build_full, now=219, period=PERIOD) is None
    assert store.freeze_full_report(build_full, now=220, period=PERIOD) is not None


def test_initial_report_is_queued_once(store: SQLiteStateStore) -> None:
    item = store.queue_initial_report(build_initial, now=1)
    assert item is not None and json.loads(item.body)["enabled"] is False
    assert store.queue_initial_report(build_initial, now=2) is None
    store.acknowledge(item, now=3)
    assert store.read().initial_report_done
    assert store.queue_initial_report(build_initial, now=4) is None


def test_a_leased_report_is_not_claimed_by_another_sender(store: SQLiteStateStore) -> None:
    store.queue_initial_report(build_initial, now=0)
    first = store.claim("a", now=1, lease=10)
    assert first is not None
    assert store.claim("b", now=5, lease=10) is None
    again = store.claim("b", now=12, lease=10)  # the lease ran out: b retries, same key
    assert again is not None and again.id == first.id and again.body == first.body
    store.postpone(again, attempts=1, next_attempt_at=50)
    assert store.claim("a", now=20, lease=10) is None
    assert store.next_wakeup(20, period=PERIOD) == 50


def test_commands_past_the_cap_fold_into_the_overflow_entry(store: SQLiteStateStore) -> None:
    store.set_consent(True, now=0)
    store.add_counts(Counts({f"C{i}": 1 for i in range(10)}), window_start=0, max_commands=5)
    store.add_counts(Counts({"C0": 5, "New": 7}), window_start=0, max_commands=5)
    commands = store.pending_counts().commands
    assert len(commands) == 5 and commands["(other)"] == 6 + 7 and commands["C0"] == 6
    assert sum(commands.values()) == 10 + 12


def test_license_key_is_stored_without_signature(store: SQLiteStateStore, state_path: str) -> None:
    store.set_license_key(LicenseKey("U0lHTkFUVVJFU0lHTkFUVVJF;customer=acme"))
    assert store.read().license_key == LicenseKey("customer=acme")
    assert b"U0lHTkFUVVJF" not in Path(state_path).read_bytes()
    store.set_license_key(None)
    assert store.read().license_key is None


def test_corrupt_file_is_moved_aside_and_a_fresh_one_used(
    state_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    Path(state_path).write_bytes(b"this is not a database" * 100)
    caplog.set_level(logging.WARNING, logger="otel_camunda_telemetry")
    store = SQLiteStateStore(state_path)
    assert len(store.read().installation_id) == 36
    store.close()
    assert "corrupt" in caplog.text
    assert any(
        p.name.startswith("state.sqlite3.corrupt-") for p in Path(state_path).parent.iterdir()
    )


def test_unusable_path_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A path below a regular file cannot be created, whoever we are (root included).
    blocker = tmp_path / "file"
    blocker.write_text("x")
    caplog.set_level(logging.WARNING, logger="otel_camunda_telemetry")
    store = SQLiteStateStore(str(blocker / "state.sqlite3"))
    assert store.read().installation_id
    assert store.path != str(blocker / "state.sqlite3")
    store.close()
    assert "not usable" in caplog.text


def _first_start(path: str, queue: multiprocessing.Queue[str]) -> None:
    store = SQLiteStateStore(path)
    store.bootstrap(initialize=True, license_key=None, now=0)
    item = store.queue_initial_report(build_initial, now=0)
    queue.put(f"{store.read().installation_id} {'queued' if item else '-'}")
    store.close()


def test_processes_starting_together_share_one_installation(state_path: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_first_start, args=(state_path, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
    queue.close()
    queue.join_thread()
    assert len({r.split()[0] for r in results}) == 1
    assert sum(r.endswith("queued") for r in results) == 1


def test_a_locked_file_is_waited_for_not_abandoned(
    state_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import otel_camunda_telemetry._state._sqlite as sqlite_module

    first = SQLiteStateStore(state_path)
    ident = first.read().installation_id
    first.close()
    monkeypatch.setattr(sqlite_module, "_BUSY_TIMEOUT_MS", 200)  # fail fast, not in 30 s
    holder = sqlite3.connect(state_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process busy with the file
    try:
        second = SQLiteStateStore(state_path)
        with pytest.raises(sqlite3.OperationalError):
            second.read()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert second.read().installation_id == ident  # same file, same installation
    assert second.path == state_path
    second.close()
