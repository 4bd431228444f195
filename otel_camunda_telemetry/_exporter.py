"""The OpenTelemetry ``MetricExporter`` that feeds Camunda-style telemetry.

``export()`` runs on whatever thread the SDK collects on: it sums the report's instruments,
drops what was recorded before a fork, and buffers the counts in memory; the reporter
thread checkpoints them into the state store right after (where counts from before consent
are refused). Reports leave from the :class:`Reporter` thread; the application's threads never
wait on the network and nothing here raises into them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from ._collect import CumulativeTracker, extract
from ._config import Settings, redact
from ._control import TelemetryControl
from ._delivery import RetryPolicy
from ._license import LicenseKey
from ._pending import PendingCounts
from ._reporter import Reporter
from ._resource import ProductInfo
from ._state import StateStore, open_store
from ._transport import RequestsTransport, Transport

_logger = logging.getLogger("otel_camunda_telemetry")

# Counters are read as deltas: each export then carries exactly what was recorded since the
# previous one, which is what the state store adds up.
_TEMPORALITY: dict[type, AggregationTemporality] = {
    Counter: AggregationTemporality.DELTA,
    ObservableCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableUpDownCounter: AggregationTemporality.CUMULATIVE,
    ObservableGauge: AggregationTemporality.CUMULATIVE,
}


class CamundaTelemetryExporter(MetricExporter):
    """Reports Camunda-style telemetry from OpenTelemetry counters and Resource.

    Every argument defaults to its ``CAMUNDA_TELEMETRY_*`` environment variable (SPEC
    section 6), so the SDK can build it with no arguments (``OTEL_METRICS_EXPORTER=
    camunda_telemetry``).

    Example:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        >>> from opentelemetry.sdk.resources import Resource
        >>> exporter = CamundaTelemetryExporter(
        ...     endpoint="https://telemetry.example.com/pings", reporter_activate=False)
        >>> provider = MeterProvider(
        ...     resource=Resource.create({"camunda.product.name": "My Engine",
        ...                               "camunda.product.version": "1.0.0"}),
        ...     metric_readers=[PeriodicExportingMetricReader(exporter, 10_000)])
        >>> provider.get_meter("app").create_counter("camunda.commands").add(
        ...     1, {"command": "StartProcessInstanceCmd"})
        >>> provider.shutdown()
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        state: str | os.PathLike[str] | None = None,
        initialize: bool | None = None,
        reporter_activate: bool | None = None,
        reporting_period: float | None = None,
        request_timeout_millis: float | None = None,
        request_retries: int | None = None,
        send_on_shutdown: bool | None = None,
        shutdown_timeout_millis: float | None = None,
        profile: str | None = None,
        license_key: str | LicenseKey | None = None,
        max_commands: int | None = None,
        resource: Resource | None = None,
        transport: Transport | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
    ) -> None:
        super().__init__(
            preferred_temporality={**_TEMPORALITY, **(preferred_temporality or {})},
            preferred_aggregation=preferred_aggregation,
        )
        self.settings = Settings.resolve(
            endpoint=endpoint,
            state=state,
            initialize=initialize,
            reporter_activate=reporter_activate,
            reporting_period=reporting_period,
            request_timeout_millis=request_timeout_millis,
            request_retries=request_retries,
            send_on_shutdown=send_on_shutdown,
            shutdown_timeout_millis=shutdown_timeout_millis,
            profile=profile,
            license_key=license_key.raw if isinstance(license_key, LicenseKey) else license_key,
            max_commands=max_commands,
        )
        self._license = (
            license_key
            if isinstance(license_key, LicenseKey)
            else (LicenseKey(self.settings.license_key) if self.settings.license_key else None)
        )
        self._clock = clock
        self._created_at = clock()
        self._fork_cutoff_ns = 0
        self._pre_fork_collect_ns = 0
        self._previous_export_ns = time.time_ns()
        self._tracker = CumulativeTracker()
        self._pending = PendingCounts(max_commands=self.settings.max_commands)
        self._product: ProductInfo | None = _described(resource) or _described(
            OTELResourceDetector().detect()
        )
        self._saved_product: ProductInfo | None = None
        self._warned: set[str] = set()
        self._store_lock = threading.Lock()  # one checkpoint at a time (reporter, flush)
        self._shutdown_lock = threading.Lock()
        self._bootstrapped = False
        self._is_shutdown = False
        self._store: StateStore | None = None
        self._transport: Transport | None = None
        self._reporter: Reporter | None = None
        self._control_store: StateStore | None = None
        if not self.settings.reporter_activate:
            _logger.debug("telemetry reporter not activated: no thread, no connection")
            return
        try:
            self._store = open_store(self.settings.state)
        except Exception as exc:  # e.g. postgresql:// without the [postgres] extra
            _logger.warning(
                "CAMUNDA_TELEMETRY_STATE=%r cannot be used (%s: %s); telemetry is off "
                "(for PostgreSQL: pip install 'otel-camunda-telemetry[postgres]')",
                redact(self.settings.state),
                type(exc).__name__,
                exc,
            )
            return
        if self.settings.endpoint is not None:
            self._transport = transport or RequestsTransport(self.settings.endpoint)
        self._reporter = Reporter(
            self.settings,
            self._store,
            self._transport,
            self._known_product,
            clock=clock,
            policy=retry_policy or RetryPolicy(retries=self.settings.request_retries),
            prepare=self._checkpoint,
        )
        self._reporter.start()
        self_ref = weakref.ref(self)

        def _before_fork() -> None:
            exporter = self_ref()
            if exporter is not None:
                exporter._before_fork()

        def _after_fork_in_child() -> None:
            exporter = self_ref()
            if exporter is not None:
                exporter._after_fork()

        def _at_exit() -> None:
            exporter = self_ref()
            if exporter is not None:
                exporter.shutdown()

        if hasattr(os, "register_at_fork"):  # not on Windows
            os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        # Registered before the MeterProvider's own handler, so it runs after it (LIFO):
        # normally a no-op; it matters when the provider does not shut down at exit.
        atexit.register(_at_exit)

    # -- the application-facing controls ---------------------------------------------
    @property
    def control(self) -> TelemetryControl:
        """Consent and license controls acting on this exporter's state store."""
        store = self._store
        if store is None:
            # Not activated: the controls still act on the state, through one store.
            if self._control_store is None:
                self._control_store = open_store(self.settings.state)
            store = self._control_store
        return TelemetryControl(
            store=store,
            settings=self.settings,
            product=lambda: self._product,
            clock=self._clock,
            transport=self._transport,
            on_change=self._reporter.wake if self._reporter else None,
        )

    # -- MetricExporter ---------------------------------------------------------------
    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Take the counts of one collection (in memory; never blocks, never raises).

        The reporter thread checkpoints them into the state store right after.
        """
        if self._store is None or self._is_shutdown:
            return MetricExportResult.SUCCESS
        try:
            previous_ns, self._previous_export_ns = self._previous_export_ns, time.time_ns()
            batch = extract(
                metrics_data,
                not_before_ns=self._fork_cutoff_ns,
                tracker=self._tracker,
                previous_ns=previous_ns,
            )
            if batch.resource is not None:
                self._observe_resource(batch.resource)
            if batch.window_start is not None:
                self._pending.add(batch.counts, batch.window_start)
            if self._reporter is not None:
                self._reporter.wake()
            return MetricExportResult.SUCCESS
        except Exception as exc:
            self._warn_once("export", "telemetry export failed (%s: %s)", type(exc).__name__, exc)
            return MetricExportResult.FAILURE

    def _checkpoint(self, timeout: float | None = None) -> bool:
        """Write what was collected to the state store (the reporter thread's first task in
        every step; ``force_flush()`` on the caller's thread, waiting ``timeout`` at most for
        a checkpoint already under way). Returns False when that wait ran out.

        Raises :class:`StoreUnavailable` when the store does not answer; the counts stay in
        memory (bounded) for the next attempt.
        """
        if self._store is None:
            return True
        if not self._store_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        batches = self._pending.take()
        try:
            self._bootstrap()
            self._persist_product()
            while batches:
                counts, window_start = batches[0]
                stored = self._store.add_counts(
                    counts, window_start=window_start, max_commands=self.settings.max_commands
                )
                batches.pop(0)
                if not stored:
                    _logger.debug("counts recorded without consent were discarded")
        except Exception as exc:
            raise StoreUnavailable(
                f"counts kept in memory until the state store answers: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            self._pending.put_back(batches)
            self._store_lock.release()
        return True

    def _bootstrap(self) -> None:
        """First use of the store by this process: apply first-start consent and license."""
        if self._bootstrapped or self._store is None:
            return
        # Consent given by CAMUNDA_TELEMETRY_INITIALIZE counts from configuration time, so
        # the first collection of a freshly started application is not discarded.
        self._store.bootstrap(
            initialize=self.settings.initialize, license_key=self._license, now=self._created_at
        )
        self._bootstrapped = True

    def _observe_resource(self, resource: Resource) -> None:
        info = ProductInfo.from_attributes(resource.attributes)
        if info != self._product:
            self._product = info
            if info.name is None:
                self._warn_once(
                    "product",
                    "the Resource has no camunda.product.name; reports will say 'unknown'%s",
                    "",
                )
            if self._reporter is not None:
                self._reporter.wake()  # the initial report may have been waiting for this

    def _known_product(self) -> ProductInfo | None:
        """The product as far as known: the last collection's Resource, the ``resource``
        argument or ``OTEL_RESOURCE_ATTRIBUTES``, else the Resource of the MeterProvider this
        exporter's reader is registered with, else the global MeterProvider's."""
        if self._product is None:
            self._product = _described(_provider_resource(self)) or _described(_global_resource())
        return self._product

    def _persist_product(self) -> None:
        # The CLI, the admin app and other processes build reports from the state store:
        # it must know the product however this process learnt it.
        product, store = self._product, self._store
        if product is None or store is None or product == self._saved_product:
            return
        store.save_product(product.with_runtime())
        self._saved_product = product

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _logger.warning(message, *args)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Checkpoint what was collected, now (the caller asked to wait for it)."""
        if self._reporter is None:
            return True
        try:
            done = self._checkpoint(timeout=max(0.0, timeout_millis / 1000))
        except Exception as exc:
            self._warn_once("flush", "telemetry flush failed (%s: %s)", type(exc).__name__, exc)
            return False
        self._reporter.wake()
        return done

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Send the shutdown report, within ``CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT`` at most.

        Safe to call twice. The SDK's reader passes its remaining budget as ``timeout``
        (milliseconds); the smallest of the budgets wins.
        """
        with self._shutdown_lock:
            if self._is_shutdown:
                return
            self._is_shutdown = True
        budgets = [self.settings.shutdown_timeout, timeout_millis / 1000]
        if isinstance(kwargs.get("timeout"), (int, float)):
            budgets.append(kwargs["timeout"] / 1000)
        timeout = max(0.0, min(budgets))
        if self._control_store is not None:
            self._control_store.close()
        if self._reporter is None:
            return
        try:
            finished = self._reporter.shutdown(timeout)
        except Exception as exc:
            _logger.warning("telemetry shutdown failed (%s: %s)", type(exc).__name__, exc)
            return
        if finished:
            if self._transport is not None:
                self._transport.close()
            if self._store is not None:
                self._store.close()
        else:
            _logger.warning(
                "telemetry shutdown report not delivered within %.1f s; kept for the next start",
                timeout,
            )

    def _before_fork(self) -> None:
        # Collect in the parent just before the fork: what was recorded so far is
        # checkpointed once, here, and the child inherits empty aggregations whose windows
        # start after ``started``. Without this the child must drop its whole first window,
        # its own counts included, because they share data points with the parent's.
        self._pre_fork_collect_ns = 0
        reader = None if self._store is None or self._is_shutdown else _own_reader(self)
        if reader is None:
            return
        started = time.time_ns()
        try:
            reader.collect(timeout_millis=5_000)
        except Exception as exc:
            _logger.debug("collection before fork failed (%s: %s)", type(exc).__name__, exc)
            return
        self._pre_fork_collect_ns = started

    def _after_fork(self) -> None:
        # The child inherits the parent's unexported measurements: the parent reports them,
        # so the child drops every window that started before the parent's last collection
        # (or, when there was none, before this moment).
        self._fork_cutoff_ns = self._pre_fork_collect_ns or time.time_ns()
        self._pending.reset_after_fork()
        self._store_lock = threading.Lock()
        self._shutdown_lock = threading.Lock()
        if self._reporter is not None and not self._is_shutdown:
            self._reporter.restart_after_fork()


def _own_reader(exporter: CamundaTelemetryExporter) -> MetricReader | None:
    # The SDK gives an exporter no handle on its reader; the MeterProvider class keeps a
    # (weak) set of every registered reader, whichever provider it belongs to.
    from opentelemetry.sdk.metrics import MeterProvider

    try:
        readers = list(getattr(MeterProvider, "_all_metric_readers", ()))
    except Exception:  # a private attribute of the SDK: never fail because it changed
        return None
    for reader in readers:
        if isinstance(reader, MetricReader) and getattr(reader, "_exporter", None) is exporter:
            return reader
    return None


class StoreUnavailable(Exception):
    """The state store did not take a checkpoint (the counts are kept in memory)."""


def _provider_resource(exporter: CamundaTelemetryExporter) -> Resource | None:
    # An application that records nothing yet never calls export(), so the Resource has to
    # be found through the reader: its collect callback is bound to the provider's
    # measurement consumer, which holds the provider's configuration. All private to the
    # SDK, hence every step is optional.
    try:
        reader = _own_reader(exporter)
        consumer = getattr(getattr(reader, "_collect", None), "__self__", None)
        resource = getattr(getattr(consumer, "_sdk_config", None), "resource", None)
    except Exception:
        return None
    return resource if isinstance(resource, Resource) else None


def _global_resource() -> Resource | None:
    # Before the first collection with data the exporter has not seen the Resource; the
    # global provider (set by zero-code setup and by most apps) usually knows it already.
    from opentelemetry import metrics

    config = getattr(metrics.get_meter_provider(), "_sdk_config", None)
    resource = getattr(config, "resource", None)
    return resource if isinstance(resource, Resource) else None


def _described(resource: Resource | None) -> ProductInfo | None:
    if resource is None:
        return None
    info = ProductInfo.from_attributes(resource.attributes)
    return info if info.is_described() else None
