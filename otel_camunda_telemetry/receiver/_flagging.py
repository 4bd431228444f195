"""When a report looks abusive: an installation reporting far more often than its period.

Flagged reports are stored and counted (the dashboard shows them), never rejected: a
restart loop sending shutdown reports is a bug worth seeing, not data worth losing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FlagPolicy"]


@dataclass(frozen=True)
class FlagPolicy:
    """Thresholds for flagging reports.

    Attributes:
        max_reports: Periodic (full or Optimize) reports one installation may send within
            ``window_seconds`` before further ones are flagged ``"too-frequent"``. Reporters
            send one per period (24 h by default) plus one per shutdown.
        window_seconds: The sliding window for ``max_reports``.

    An installation sends its initial report once ever; any further initial report of the
    same installation is flagged ``"repeated-initial"``.

    Example:
        >>> policy = FlagPolicy(max_reports=2)
        >>> policy.reason("engine-full", previous=1), policy.reason("engine-full", previous=2)
        (None, 'too-frequent')
    """

    max_reports: int = 4
    window_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_reports < 1 or self.window_seconds <= 0:
            raise ValueError(f"invalid flag policy {self!r}")

    def lookback(self, kind: str) -> float | None:
        """Seconds to look back for earlier reports of the same kind (``None``: ever)."""
        return None if kind == "engine-initial" else self.window_seconds

    def reason(self, kind: str, previous: int) -> str | None:
        """Why a report is flagged, given how many of its kind came before in the lookback."""
        if kind == "engine-initial":
            return "repeated-initial" if previous >= 1 else None
        return "too-frequent" if previous >= self.max_reports else None
