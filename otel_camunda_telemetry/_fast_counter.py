"""Counters for a hot path: an increment is a few dict and int operations.

A synchronous OpenTelemetry ``Counter.add`` goes through attribute validation, view
matching and a lock per call (several microseconds in CPython). A process engine counts
every command it executes, so that is cost the product pays on its own hot path.

These counters keep one plain ``dict`` per thread, written only by its owner thread (so
there is no lock and no lost increment), and hand their totals to the SDK through an
asynchronous ``ObservableCounter`` whose callback merges the per-thread dicts when a
reader collects. The SDK turns the cumulative observations into deltas for a DELTA
reader (the Camunda exporter) and keeps them cumulative for a CUMULATIVE one (OTLP), so
the counts reach every reader like those of any OTel counter.

Example:
    >>> from opentelemetry.sdk.metrics import MeterProvider
    >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    >>> reader = InMemoryMetricReader()
    >>> meter = MeterProvider(metric_readers=[reader]).get_meter("engine")
    >>> commands = FastCounter(meter)
    >>> commands.inc("StartProcessInstanceCmd")
    >>> start = commands.bind("StartProcessInstanceCmd")
    >>> start.inc()
    >>> commands.totals()
    {'StartProcessInstanceCmd': 2}
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from ._instruments import (
    ACTIVITY_INSTANCE_START,
    COMMAND_ATTRIBUTE,
    COMMANDS,
    EXECUTED_DECISION_ELEMENTS,
    EXECUTED_DECISION_INSTANCES,
    ROOT_PROCESS_INSTANCE_START,
)

__all__ = [
    "BoundFastCounter",
    "FastCounter",
    "FastCounters",
    "FastMetricCounter",
    "create_fast_counters",
]

_logger = logging.getLogger("otel_camunda_telemetry.fast_counter")

#: The key under which an attribute-less counter keeps its total in the per-thread dicts.
_NO_ATTRIBUTES: Final = ""


class _Owner:
    """Lives exactly as long as one thread's slot in a ``threading.local``.

    When the thread ends, CPython clears its thread-locals, this object dies and the
    weak reference to it tells the collector that the thread's dict is final.
    """

    __slots__ = ("__weakref__",)


class _PerThreadCounts:
    """One dict per thread, merged on read; the storage shared by the fast counters."""

    __slots__ = ("__weakref__", "_local", "_lock", "_store")

    def __init__(self) -> None:
        self._local = threading.local()
        # Held only to register a thread or to merge at collection, never by an increment.
        self._lock = threading.Lock()
        # (totals of finished threads, [(owner ref, live thread's dict)]): replaced as one
        # tuple so that a fork in the middle of a merge leaves a consistent state behind.
        self._store: tuple[dict[str, int], list[tuple[weakref.ref[_Owner], dict[str, int]]]]
        self._store = ({}, [])
        _ALL.add(self)

    def _register(self) -> dict[str, int]:
        """Give the calling thread its own dict (once per thread, on its first increment)."""
        counts: dict[str, int] = {}
        owner = _Owner()
        self._local.owner = owner
        self._local.counts = counts
        with self._lock:
            self._store[1].append((weakref.ref(owner), counts))
        return counts

    def totals(self) -> dict[str, int]:
        """Everything counted so far in this process (cumulative), per key.

        Finished threads' dicts are folded into one, so memory does not grow with thread
        churn. Safe to call from any thread at any time.
        """
        with self._lock:
            retired, live = self._store
            totals = dict(retired)
            kept: list[tuple[weakref.ref[_Owner], dict[str, int]]] = []
            finished: list[dict[str, int]] = []
            for ref, counts in live:
                # Check liveness before reading: a dead thread's dict is final, while a
                # live one may still grow after the copy (and is read again next time).
                alive = ref() is not None
                snapshot = counts.copy()  # one C call: atomic with respect to the owner
                for key, n in snapshot.items():
                    totals[key] = totals.get(key, 0) + n
                if alive:
                    kept.append((ref, counts))
                else:
                    finished.append(snapshot)
            if finished:
                folded = dict(retired)
                for snapshot in finished:
                    for key, n in snapshot.items():
                        folded[key] = folded.get(key, 0) + n
                self._store = (folded, kept)
        return totals

    def _thread_slots(self) -> int:
        """How many per-thread dicts are held right now (for tests of thread churn)."""
        return len(self._store[1])

    def _after_fork_in_child(self) -> None:
        # The thread that held the lock at fork time does not exist in the child: a fresh
        # lock keeps the child's first collection from waiting forever. The dicts stay:
        # the child's totals start from the parent's, so cumulative values stay monotonic
        # (the exporter drops, in a child, delta points whose window began before the fork).
        self._lock = threading.Lock()


_ALL: weakref.WeakSet[_PerThreadCounts] = weakref.WeakSet()


def _reinit_all_after_fork() -> None:
    for counts in list(_ALL):
        counts._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reinit_all_after_fork)


class FastCounter(_PerThreadCounts):
    """A command counter (``camunda.commands`` by default) with a near-free ``inc``.

    Registers an ``ObservableCounter`` named ``name`` on ``meter``; every collection
    observes, per command, the cumulative count under the attribute ``attribute_key``.
    Do not also create a synchronous ``Counter`` of the same name on the same meter.

    Args:
        meter: Any OpenTelemetry meter (SDK or no-op).
        name: The instrument name.
        description: The instrument description.
        unit: The instrument unit.
        attribute_key: The attribute that carries the command name.

    Example:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> commands = FastCounter(MeterProvider().get_meter("engine"))
        >>> commands.inc("FetchExternalTasksCmd", 3)
        >>> commands.totals()
        {'FetchExternalTasksCmd': 3}
    """

    __slots__ = ("_attribute_key", "name")

    def __init__(
        self,
        meter: Meter,
        name: str = COMMANDS,
        *,
        description: str = "Commands executed by the engine, per command",
        unit: str = "{command}",
        attribute_key: str = COMMAND_ATTRIBUTE,
    ) -> None:
        super().__init__()
        self.name = name
        self._attribute_key = attribute_key
        meter.create_observable_counter(
            name, callbacks=[self._observe], unit=unit, description=description
        )

    def inc(self, command: str, amount: int = 1) -> None:
        """Count ``amount`` executions of ``command`` (a negative amount is ignored)."""
        if amount < 0:
            _logger.warning("Ignored a negative amount for %s", self.name)
            return
        try:
            counts = self._local.counts
        except AttributeError:
            counts = self._register()
        try:
            counts[command] += amount
        except KeyError:
            counts[command] = amount

    def bind(self, command: str) -> BoundFastCounter:
        """A counter for one fixed command (like prometheus_client's ``labels()``).

        Example:
            >>> from opentelemetry.sdk.metrics import MeterProvider
            >>> commands = FastCounter(MeterProvider().get_meter("engine"))
            >>> start = commands.bind("StartProcessInstanceCmd")
            >>> start.inc()
            >>> commands.totals()
            {'StartProcessInstanceCmd': 1}
        """
        return BoundFastCounter(self, command)

    def _observe(self, options: CallbackOptions) -> Iterator[Observation]:
        key = self._attribute_key
        for command, n in self.totals().items():
            yield Observation(n, {key: command})


class BoundFastCounter:
    """One command of a :class:`FastCounter`; made by :meth:`FastCounter.bind`."""

    __slots__ = ("_command", "_counter", "_local")

    def __init__(self, counter: FastCounter, command: str) -> None:
        self._counter = counter
        self._command = command
        self._local = counter._local

    def inc(self, amount: int = 1) -> None:
        """Count ``amount`` executions of the bound command (a negative amount is ignored)."""
        if amount < 0:
            _logger.warning("Ignored a negative amount for %s", self._counter.name)
            return
        try:
            counts = self._local.counts
        except AttributeError:
            counts = self._counter._register()
        try:
            counts[self._command] += amount
        except KeyError:
            counts[self._command] = amount


class FastMetricCounter(_PerThreadCounts):
    """An attribute-less counter (e.g. ``camunda.root-process-instance-start``).

    Args:
        meter: Any OpenTelemetry meter (SDK or no-op).
        name: The instrument name.
        description: The instrument description.
        unit: The instrument unit.

    Example:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> starts = FastMetricCounter(
        ...     MeterProvider().get_meter("engine"), ROOT_PROCESS_INSTANCE_START
        ... )
        >>> starts.inc()
        >>> starts.total()
        1
    """

    __slots__ = ("name",)

    def __init__(self, meter: Meter, name: str, *, description: str = "", unit: str = "1") -> None:
        super().__init__()
        self.name = name
        meter.create_observable_counter(
            name, callbacks=[self._observe], unit=unit, description=description
        )

    def inc(self, amount: int = 1) -> None:
        """Count ``amount`` (a negative amount is ignored)."""
        if amount < 0:
            _logger.warning("Ignored a negative amount for %s", self.name)
            return
        try:
            counts = self._local.counts
        except AttributeError:
            counts = self._register()
        try:
            counts[_NO_ATTRIBUTES] += amount
        except KeyError:
            counts[_NO_ATTRIBUTES] = amount

    def total(self) -> int:
        """Everything counted so far in this process."""
        return self.totals().get(_NO_ATTRIBUTES, 0)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        totals = self.totals()
        # Like a synchronous Counter: no data point before the first increment.
        return [Observation(totals[_NO_ATTRIBUTES])] if totals else []


@dataclass(frozen=True)
class FastCounters:
    """The five counters of SPEC section 2; made by :func:`create_fast_counters`."""

    commands: FastCounter
    root_process_instance_start: FastMetricCounter
    activity_instance_start: FastMetricCounter
    executed_decision_instances: FastMetricCounter
    executed_decision_elements: FastMetricCounter


def create_fast_counters(meter: Meter) -> FastCounters:
    """Register the five report instruments on ``meter`` as fast counters.

    Example:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> counters = create_fast_counters(MeterProvider().get_meter("engine"))
        >>> counters.commands.inc("StartProcessInstanceCmd")
        >>> counters.root_process_instance_start.inc()
    """
    return FastCounters(
        commands=FastCounter(meter),
        root_process_instance_start=FastMetricCounter(
            meter, ROOT_PROCESS_INSTANCE_START, description="Root process instances started"
        ),
        activity_instance_start=FastMetricCounter(
            meter, ACTIVITY_INSTANCE_START, description="Activity instances started"
        ),
        executed_decision_instances=FastMetricCounter(
            meter, EXECUTED_DECISION_INSTANCES, description="Decision instances executed"
        ),
        executed_decision_elements=FastMetricCounter(
            meter, EXECUTED_DECISION_ELEMENTS, description="Decision elements executed"
        ),
    )
