"""Collections wait in memory, as separate batches, until the reporter checkpoints them."""

from __future__ import annotations

from otel_camunda_telemetry import Counts
from otel_camunda_telemetry._pending import PendingCounts
from otel_camunda_telemetry._state import SQLiteStateStore


def test_a_batch_from_before_consent_does_not_sink_later_ones(state_path: str) -> None:
    # The reporter was busy (a slow delivery) while collections piled up across consent.
    store = SQLiteStateStore(state_path)
    pending = PendingCounts(max_commands=100)
    pending.add(Counts({"Before": 5}), window_start=50.0)
    store.set_consent(True, now=100.0)
    pending.add(Counts({"After": 100}), window_start=150.0)
    for counts, start in pending.take():
        store.add_counts(counts, window_start=start, max_commands=100)
    assert store.pending_counts().commands == {"After": 100}
    store.close()


def test_batches_are_bounded_and_put_back_first() -> None:
    pending = PendingCounts(max_commands=3)
    for i in range(PendingCounts.MAX_BATCHES + 5):
        pending.add(Counts({f"C{i}": 1}), window_start=float(i))
    batches = pending.take()
    assert len(batches) == PendingCounts.MAX_BATCHES
    assert batches[0][1] == 0.0  # the merged batch keeps the earliest window start
    assert sum(c.total() for c, _ in batches) == PendingCounts.MAX_BATCHES + 5
    assert all(len(c.commands) <= 3 for c, _ in batches)
    pending.add(Counts({"New": 1}), window_start=99.0)
    pending.put_back(batches[:2])
    again = pending.take()
    assert [start for _, start in again] == [0.0, batches[1][1], 99.0]
