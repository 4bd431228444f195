"""The Telemetry Reporter: a background thread that turns state into reports on schedule.

Each step (:meth:`Reporter.tick`) is: queue the initial report once per installation,
freeze a full report when the period has passed, deliver whatever is due. The thread only
decides *when* to step; tests call ``tick(now)`` directly with their own clock.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable

from ._config import Settings
from ._counts import Counts
from ._delivery import RetryPolicy, deliver
from ._report import build_full_report, build_initial_report
from ._resource import ProductInfo
from ._state import InstallationState, OutboxItem, StateStore
from ._transport import SendResult, Transport

_logger = logging.getLogger("otel_camunda_telemetry")

#: Longest sleep between steps, so toggles made by other processes are noticed.
MAX_POLL = 30.0
#: Wait after a step that left something due it could not do.
NO_PROGRESS_WAIT = 5.0


class Reporter:
    """Schedules and sends the reports of one process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        transport: Transport | None,
        product: Callable[[], ProductInfo | None],
        *,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transport = transport
        self._product = product
        # Called first in every step: the exporter's checkpoint of collected counts.
        self._prepare = prepare or (lambda: None)
        self._clock = clock
        self.policy = policy or RetryPolicy(retries=settings.request_retries)
        self._rng = rng or random.Random()
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_cycles = 0
        self._in_outage = False
        self._step_failing = False
        self._warned_no_endpoint = False
        #: Reports acknowledged by the receiver through this reporter.
        self.delivered = 0
        #: Steps taken by the thread (it must sleep when there is nothing to do).
        self.steps = 0

    # -- thread -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the daemon thread (a daemon, so a hung request can never block exit)."""
        self._thread = threading.Thread(
            target=self._run, name="otel-camunda-telemetry-reporter", daemon=True
        )
        self._thread.start()

    def restart_after_fork(self) -> None:
        """A forked child has no reporter thread: give it its own."""
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._wake = threading.Event()
        if self._thread is not None:
            self.start()

    def wake(self) -> None:
        """Ask for a step now (after a collection, a toggle, a flush)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            self.steps += 1
            try:
                next_at = self.tick(now)
                if self._step_failing:
                    self._step_failing = False
                    _logger.info("telemetry state store reachable again")
            except Exception as exc:  # never let the thread die: try again later
                # One warning per outage (a database down for an hour is one event).
                log = _logger.debug if self._step_failing else _logger.warning
                log("telemetry step failed (%s: %s)", type(exc).__name__, exc)
                self._step_failing = True
                next_at = now + min(MAX_POLL, self.settings.reporting_period)
            # Something still due right after a step could not progress (no product yet,
            # a store that failed): back off instead of spinning; a wake() cuts this short.
            delay = next_at - self._clock()
            delay = min(max(delay, 0.01) if delay > 0 else NO_PROGRESS_WAIT, MAX_POLL)
            self._wake.wait(delay)
            self._wake.clear()

    def shutdown(self, timeout: float) -> bool:
        """Stop the thread; checkpoint and send the shutdown report within ``timeout`` s.

        Returns True when everything finished in time. The final step starts at once on a
        daemon thread of its own (the reporter thread may be stuck in a request to a hung
        endpoint): it checkpoints the last counts first, then reports. A report not
        delivered by the deadline stays in the state store with its lease released, so the
        next start can send it (after its retry delay, if an attempt failed).
        """
        deadline = time.monotonic() + timeout
        # Kept for releasing leases at the end, so the whole shutdown fits in ``timeout``.
        reserve = min(0.25, timeout / 4)
        self._stop.set()
        self._wake.set()
        final_owner = uuid.uuid4().hex  # never claims the report the reporter thread holds
        final = threading.Thread(
            target=self._final_step,
            args=(self._clock() + timeout - reserve, final_owner),
            name="otel-camunda-telemetry-shutdown",
            daemon=True,
        )
        try:
            final.start()
        except RuntimeError:
            # Python 3.12 refuses new threads from atexit: keep the last counts, inline.
            try:
                self._prepare()
            except Exception as exc:
                _logger.warning("telemetry shutdown failed (%s: %s)", type(exc).__name__, exc)
            return False
        final.join(max(0.0, deadline - reserve - time.monotonic()))
        worker = self._thread
        if worker is not None and worker is not threading.current_thread():
            worker.join(max(0.0, deadline - reserve - time.monotonic()))
        stuck = final.is_alive() or (worker is not None and worker.is_alive())
        if stuck:
            # A request still waits on the endpoint and dies with the process: free its
            # report now, or the next start would wait for the lease to run out (a resend
            # carries the same Idempotency-Key). On a daemon thread: the store may be what
            # hangs.
            release = threading.Thread(
                target=self._release_leases, args=((self.owner, final_owner),), daemon=True
            )
            try:
                release.start()
                release.join(max(0.0, deadline - time.monotonic()))
            except RuntimeError:
                pass  # at interpreter shutdown: the lease runs out by itself
        return not stuck

    def _release_leases(self, owners: tuple[str, ...]) -> None:
        for owner in owners:
            try:
                self.store.release_leases(owner)
            except Exception as exc:
                _logger.debug("could not release leases (%s: %s)", type(exc).__name__, exc)

    def _final_step(self, deadline: float, owner: str) -> None:
        try:
            if not self.settings.send_on_shutdown:
                self._prepare()  # keep the last counts for the next report; no request
                return
            self.send_now(deadline, owner=owner)
        except Exception as exc:
            _logger.warning("telemetry shutdown report failed (%s: %s)", type(exc).__name__, exc)

    def send_now(
        self, deadline: float, *, full_report: bool = True, owner: str | None = None
    ) -> OutboxItem | None:
        """Queue what is owed now (initial report, a full report of the pending counts when
        consent is on) and deliver everything waiting until ``deadline``; returns the frozen
        full report, if one was made."""
        now = self._clock()
        self._prepare()
        self._queue_initial(now)
        frozen = self._freeze(now, force=True) if full_report else None
        self._deliver_due(self._clock(), deadline=deadline, due_only=False, owner=owner)
        return frozen

    # -- one step -----------------------------------------------------------------------
    def tick(self, now: float) -> float:
        """Do what is due at ``now``; return when the next step is due."""
        self._prepare()
        self._queue_initial(now)
        self._freeze(now, force=False)
        self._deliver_due(now, deadline=None)
        return self.store.next_wakeup(
            self._clock(),
            period=self.settings.reporting_period,
            sending=self.transport is not None,
        )

    def _queue_initial(self, now: float) -> None:
        if self.settings.profile != "engine":
            return  # Optimize never sent an initial report
        state = self.store.read()
        if state.initial_report_done:
            return
        info = self._product() or state.product
        if info is None:
            return  # wait until the Resource is known: never send an invented product

        def build(current: InstallationState) -> dict[str, object]:
            return build_initial_report(
                current.installation_id, info, telemetry_enabled=current.enabled
            )

        if self.store.queue_initial_report(build, now):
            _logger.debug("initial report queued")

    def _freeze(self, now: float, *, force: bool) -> OutboxItem | None:
        current_info = self._product()
        profile = self.settings.profile
        if current_info is None and self.store.read().product is None:
            # No Resource seen yet, here or by any process of the installation: a report
            # now would carry an invented product. The counts wait in the store.
            return None

        def build(state: InstallationState, counts: Counts) -> dict[str, object]:
            info = current_info or state.product or ProductInfo()
            return build_full_report(
                profile, state.installation_id, info, counts, state.license_key
            )

        item = self.store.freeze_full_report(
            build, now, period=self.settings.reporting_period, force=force
        )
        if item is not None:
            _logger.debug("full report frozen (%s)", item.id)
        return item

    def _deliver_due(
        self,
        now: float,
        *,
        deadline: float | None,
        due_only: bool = True,
        owner: str | None = None,
    ) -> None:
        """Send the reports that are due (every waiting one unless ``due_only``) and not
        being sent by another process, each at most once in this pass."""
        if self.transport is None:
            if not self._warned_no_endpoint:
                self._warned_no_endpoint = True
                _logger.warning(
                    "no usable CAMUNDA_TELEMETRY_ENDPOINT (not set, or refused): "
                    "telemetry reports are kept, not sent"
                )
            return
        budget = self.settings.request_timeout * (self.policy.retries + 1)
        lease = budget + self.policy.backoff_max * self.policy.retries + 30.0
        attempted: list[str] = []
        for _ in range(16):  # a bounded number per step; the rest waits for the next one
            if deadline is not None and self._clock() >= deadline:
                return
            if owner is None and self._stop.is_set():
                return  # shutting down: the final step does the last deliveries
            item = self.store.claim(
                owner or self.owner, self._clock(), lease, due_only=due_only, exclude=attempted
            )
            if item is None:
                return
            attempted.append(item.id)  # each report at most once per pass
            self._deliver_one(
                item, deadline=deadline if deadline is not None else self._clock() + budget + 60
            )
            try:
                # A delivery can take a while: keep checkpointing what is being collected.
                self._prepare()
            except Exception as exc:
                _logger.debug("checkpoint between deliveries failed (%s)", exc)

    def _deliver_one(self, item: OutboxItem, *, deadline: float) -> None:
        assert self.transport is not None
        result = deliver(
            self.transport,
            item.body.encode("utf-8"),
            item.id,
            policy=self.policy,
            request_timeout=self.settings.request_timeout,
            deadline=deadline,
            clock=self._clock,
            stop=self._stop,
            rng=self._rng,
            on_attempt=lambda n, r: _logger.debug(
                "telemetry %s report %s attempt %d: %s", item.kind, item.id, n + 1, r.reason
            ),
        )
        now = self._clock()
        if result.outcome == "skipped":
            # No attempt was made (shutdown's deadline had passed): not a failure, so the
            # report keeps its schedule; only the lease is released.
            self.store.postpone(item, attempts=item.attempts, next_attempt_at=item.next_attempt_at)
        elif result.outcome == "ok":
            self.store.acknowledge(item, now)
            self.delivered += 1
            if self._in_outage:
                _logger.info("telemetry endpoint reachable again; delivery resumed")
            self._in_outage = False
            self._failed_cycles = 0
            _logger.debug("telemetry %s report sent: %s", item.kind, item.body)
        elif result.outcome == "drop":
            self.store.drop(item, now)
            _logger.error(
                "telemetry %s report %s refused by the receiver (%s); dropped",
                item.kind,
                item.id,
                result.reason,
            )
        else:
            self._failed_cycles += 1
            delay = self.policy.next_cycle(self._failed_cycles, result.retry_after, self._rng)
            self.store.postpone(item, attempts=item.attempts + 1, next_attempt_at=now + delay)
            self._report_outage(result, delay)

    def _report_outage(self, result: SendResult, delay: float) -> None:
        # One warning per outage, not one per attempt: the log must not flood.
        if self._in_outage:
            _logger.debug("telemetry delivery still failing (%s)", result.reason)
            return
        self._in_outage = True
        _logger.warning(
            "telemetry report not delivered (%s); kept, next try in %.0f s", result.reason, delay
        )
