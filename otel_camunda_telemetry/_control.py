"""Consent and license controls: the Python API behind the CLI and the admin REST API.

Like Camunda's ``managementService.toggleTelemetry(true)``, every change goes to the shared
state store, so the running application, the CLI and every other process see it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._config import Settings
from ._counts import Counts
from ._delivery import RetryPolicy
from ._license import LicenseKey
from ._report import Report, build_full_report
from ._reporter import Reporter
from ._resource import ProductInfo
from ._state import StateStore, open_store
from ._transport import RequestsTransport, Transport


@dataclass(frozen=True)
class TelemetryStatus:
    """What an administrator wants to know at a glance (never the counts themselves)."""

    installation_id: str
    enabled: bool | None
    initial_report_sent: bool
    last_report_at: float | None
    next_report_due: float | None
    reports_waiting: int
    license_key_set: bool
    profile: str
    endpoint: str | None
    state: str

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (times as UNIX seconds)."""
        return {
            "installationId": self.installation_id,
            "enableTelemetry": self.enabled,
            "initialReportSent": self.initial_report_sent,
            "lastReportAt": self.last_report_at,
            "nextReportDue": self.next_report_due,
            "reportsWaiting": self.reports_waiting,
            "licenseKeySet": self.license_key_set,
            "profile": self.profile,
            "endpoint": self.endpoint,
            "state": self.state,
        }


@dataclass(frozen=True)
class SendSummary:
    """What ``send_now`` did: how many reports went out, and what is still waiting."""

    sent: int
    waiting: int
    reason: str


class TelemetryControl:
    """Read and change consent and the license key of an installation.

    Example:
        >>> import os, tempfile
        >>> control = TelemetryControl(state=os.path.join(tempfile.mkdtemp(), "s.db"))
        >>> control.status().enabled is None
        True
        >>> control.enable().enabled
        True
        >>> control.close()
    """

    def __init__(
        self,
        *,
        state: str | None = None,
        store: StateStore | None = None,
        settings: Settings | None = None,
        product: Callable[[], ProductInfo | None] | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[], None] | None = None,
        owns_store: bool | None = None,
    ) -> None:
        self.settings = settings or Settings.resolve(state=state)
        self._own_store = store is None if owns_store is None else owns_store
        self.store = store or open_store(state or self.settings.state)
        self._product = product or (lambda: None)
        self._transport = transport
        self._clock = clock
        self._on_change = on_change or (lambda: None)

    # -- consent ------------------------------------------------------------------------
    def status(self) -> TelemetryStatus:
        """The installation's consent, schedule and outbox."""
        state = self.store.read()
        waiting = self.store.outbox()
        due = None
        if state.enabled and state.last_report_at is not None:
            due = state.last_report_at + self.settings.reporting_period
        return TelemetryStatus(
            installation_id=state.installation_id,
            enabled=state.consent,
            initial_report_sent=state.initial_report_done,
            last_report_at=state.last_report_at if state.enabled else None,
            next_report_due=due,
            reports_waiting=len(waiting),
            license_key_set=state.license_key is not None,
            profile=self.settings.profile,
            endpoint=self.settings.endpoint,
            state=getattr(self.store, "location", self.settings.state),
        )

    def is_enabled(self) -> bool:
        """True only after an explicit opt-in."""
        return self.store.read().enabled

    def toggle(self, enabled: bool) -> TelemetryStatus:
        """Turn telemetry on or off; the decision persists and every process sees it."""
        self.store.set_consent(enabled, self._clock())
        self._on_change()
        return self.status()

    def enable(self) -> TelemetryStatus:
        """Opt in: a new period starts now, with no counts from before."""
        return self.toggle(True)

    def disable(self) -> TelemetryStatus:
        """Opt out: unsent counts are forgotten and no full report is sent."""
        return self.toggle(False)

    # -- license ------------------------------------------------------------------------
    def set_license_key(self, key: str | LicenseKey, *, structured: bool = False) -> None:
        """Set the license key (its signature is stripped before it is stored).

        ``structured=True`` also sends the fields parsed from it, as Camunda's Admin
        webapp did; otherwise only the raw key (without signature) is sent.
        """
        if isinstance(key, str):
            key = LicenseKey.parse(key) if structured else LicenseKey(key)
        self.store.set_license_key(key)
        self._on_change()

    def remove_license_key(self) -> None:
        """Remove the key: it disappears from the next report."""
        self.store.set_license_key(None)
        self._on_change()

    # -- reports ------------------------------------------------------------------------
    def preview(self) -> Report:
        """The full report that would be sent now (nothing is reset or sent)."""
        state = self.store.read()
        info = self._product() or state.product or ProductInfo()
        counts = self.store.pending_counts() if state.enabled else Counts()
        return build_full_report(
            self.settings.profile, state.installation_id, info, counts, state.license_key
        )

    def preview_json(self) -> str:
        """:meth:`preview` as indented JSON."""
        return json.dumps(self.preview(), indent=2)

    def send_now(self, timeout: float | None = None) -> SendSummary:
        """Freeze the pending counts into a report and deliver everything waiting, now.

        Runs on the caller's thread (meant for the CLI and admin tools, not app code).
        """
        if not self.settings.reporter_activate:
            return SendSummary(
                0,
                len(self.store.outbox()),
                "the reporter is not activated (CAMUNDA_TELEMETRY_REPORTER_ACTIVATE=false, "
                "DO_NOT_TRACK or OTEL_SDK_DISABLED): nothing is sent",
            )
        if self.settings.endpoint is None and self._transport is None:
            return SendSummary(0, len(self.store.outbox()), "no endpoint configured")
        transport = self._transport or RequestsTransport(self.settings.endpoint or "")
        reporter = Reporter(
            self.settings,
            self.store,
            transport,
            self._product,
            clock=self._clock,
            policy=RetryPolicy(retries=self.settings.request_retries),
            rng=random.Random(),
        )
        budget = timeout if timeout is not None else self.settings.request_timeout * 2 + 5
        try:
            frozen = reporter.send_now(self._clock() + budget)
        finally:
            if self._transport is None:
                transport.close()
        waiting = len(self.store.outbox())
        reason = "sent" if waiting == 0 else "some reports could not be delivered yet"
        if frozen is None and not self.is_enabled():
            reason = "telemetry is disabled: no full report was made"
        elif frozen is None and self._product() is None and self.store.read().product is None:
            reason = "the product is not known yet (no Resource seen): no full report was made"
        return SendSummary(reporter.delivered, waiting, reason)

    def close(self) -> None:
        """Close the store if this control opened it."""
        if self._own_store:
            self.store.close()
