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
    """A bounded in-memory batch: the sum of collections since the last checkpoint.

    Example:
        >>> pending = PendingCounts(max_commands=2000)
        >>> pending.add(Counts({"A": 1}), window_start=10.0)
        >>> pending.add(Counts({"A": 2}), window_start=20.0)
        >>> counts, start = pending.take()
        >>> counts.commands, start
        ({'A': 3}, 10.0)
    """

    def __init__(self, *, max_commands: int) -> None:
        self.max_commands = max_commands
        self._lock = threading.Lock()
        self._counts: Counts | None = None
        self._window_start = 0.0

    def add(self, counts: Counts, window_start: float) -> None:
        """Add one collection's counts; the batch covers from its earliest window start."""
        if counts.is_empty():
            return
        with self._lock:
            if self._counts is None:
                self._counts, self._window_start = counts, window_start
            else:
                self._counts.add(counts)
                self._window_start = min(self._window_start, window_start)
            # Bounded while the store is unreachable: commands past the cap fold into one.
            if len(self._counts.commands) > self.max_commands:
                self._counts = self._counts.capped(self.max_commands)

    def take(self) -> tuple[Counts, float] | None:
        """Remove and return the batch (None when empty)."""
        with self._lock:
            if self._counts is None:
                return None
            batch = (self._counts, self._window_start)
            self._counts = None
            return batch

    def put_back(self, counts: Counts, window_start: float) -> None:
        """Return a batch the store could not take, to go with the next checkpoint."""
        self.add(counts, window_start)

    def reset_after_fork(self) -> None:
        """In a forked child: the parent checkpoints what it had; start empty."""
        self._lock = threading.Lock()
        self._counts = None
