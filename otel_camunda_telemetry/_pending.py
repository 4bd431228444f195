"""Counts collected but not yet checkpointed into the state store.

``export()`` runs on whatever thread the SDK collects on, the application's own included
(``provider.shutdown()``, ``force_flush()``, a fork): it only adds here, in memory. The
reporter thread writes the batch to the store right after, so a slow or unreachable store
never holds up the application.
"""

from __future__ import annotations

import threading

from ._counts import Counts


class PendingCounts:
    """Collections not yet checkpointed, each with the start of its window.

    Batches stay apart (up to :attr:`MAX_BATCHES`, then the two oldest merge): the store
    refuses a batch whose window began before consent, and one such batch must not take
    later, consented ones with it. Commands past ``max_commands`` fold into one entry.

    Example:
        >>> pending = PendingCounts(max_commands=2000)
        >>> pending.add(Counts({"A": 1}), window_start=10.0)
        >>> pending.add(Counts({"A": 2}), window_start=20.0)
        >>> [(c.commands, start) for c, start in pending.take()]
        [({'A': 1}, 10.0), ({'A': 2}, 20.0)]
    """

    MAX_BATCHES = 16

    def __init__(self, *, max_commands: int) -> None:
        self.max_commands = max_commands
        self._lock = threading.Lock()
        self._batches: list[tuple[Counts, float]] = []

    def add(self, counts: Counts, window_start: float) -> None:
        """Add one collection's counts."""
        if counts.is_empty():
            return
        with self._lock:
            self._batches.append((counts.capped(self.max_commands), window_start))
            self._bound()

    def take(self) -> list[tuple[Counts, float]]:
        """Remove and return every batch, oldest first."""
        with self._lock:
            batches, self._batches = self._batches, []
            return batches

    def put_back(self, batches: list[tuple[Counts, float]]) -> None:
        """Return batches the store could not take, ahead of anything collected since."""
        with self._lock:
            self._batches[:0] = batches
            self._bound()

    def _bound(self) -> None:
        # Bounded while the store is unreachable: merge the two oldest (the merged batch
        # covers from the earlier start, so consent is still respected).
        while len(self._batches) > self.MAX_BATCHES:
            (first, start), (second, _) = self._batches[0], self._batches[1]
            first.add(second)
            self._batches[:2] = [(first.capped(self.max_commands), start)]

    def reset_after_fork(self) -> None:
        """In a forked child: the parent checkpoints what it had; start empty."""
        self._lock = threading.Lock()
        self._batches = []
