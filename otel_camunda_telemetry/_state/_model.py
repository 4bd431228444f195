"""What the state store holds, as plain values (SPEC section 7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._license import LicenseKey
from .._resource import ProductInfo

OutboxKind = Literal["initial", "full"]


@dataclass(frozen=True)
class InstallationState:
    """One installation's shared state, as read in one transaction.

    Attributes:
        installation_id: random UUID4, created once and never changed.
        consent: ``None`` until a decision was made, then ``True``/``False``.
        consent_changed_at: wall-clock seconds of the last toggle; counts from windows that
            started earlier are never stored (nothing recorded while off is sent).
        initial_report_done: the initial report was acknowledged (or refused for good).
        last_report_at: start of the current reporting period: when the last full report was
            acknowledged, or when consent was given.
        license_key: the key set at runtime, without its signature.
        product: the last known description of the product (from the Resource).
    """

    installation_id: str
    consent: bool | None
    consent_changed_at: float | None
    initial_report_done: bool
    last_report_at: float | None
    license_key: LicenseKey | None
    product: ProductInfo | None

    @property
    def enabled(self) -> bool:
        """True only after an explicit opt-in."""
        return self.consent is True


@dataclass(frozen=True)
class OutboxItem:
    """A frozen report waiting for the receiver's acknowledgement.

    Its ``id`` is the ``Idempotency-Key``: every retry sends the same ``body`` with it.
    """

    id: str
    kind: OutboxKind
    body: str
    created_at: float
    attempts: int
    next_attempt_at: float
