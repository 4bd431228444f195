"""Counts not yet acknowledged: the usage data of one reporting window."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._instruments import METRIC_KEYS, OVERFLOW_COMMAND


@dataclass
class Counts:
    """Command and metric counts, keyed by report name (``StartProcessInstanceCmd``,
    ``root-process-instance-start``).

    Example:
        >>> c = Counts(commands={"StartProcessInstanceCmd": 2})
        >>> c.add(Counts(commands={"StartProcessInstanceCmd": 1}))
        >>> c.commands
        {'StartProcessInstanceCmd': 3}
    """

    commands: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        """Add ``other`` into this one."""
        for name, n in other.commands.items():
            self.commands[name] = self.commands.get(name, 0) + n
        for name, n in other.metrics.items():
            self.metrics[name] = self.metrics.get(name, 0) + n

    def is_empty(self) -> bool:
        """True when nothing was counted."""
        return not any(self.commands.values()) and not any(self.metrics.values())

    def total(self) -> int:
        """Sum of every count (used by tests and logs, never sent)."""
        return sum(self.commands.values()) + sum(self.metrics.values())

    def capped(self, max_commands: int) -> Counts:
        """A copy with at most ``max_commands`` distinct commands.

        The busiest commands keep their names; the rest are folded into
        :data:`OVERFLOW_COMMAND` so that their counts are kept and memory stays bounded.
        """
        if len(self.commands) <= max_commands:
            return Counts(dict(self.commands), dict(self.metrics))
        ranked = sorted(self.commands.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = max(max_commands - 1, 0)
        commands = dict(ranked[:keep])
        overflow = sum(n for _, n in ranked[keep:])
        commands[OVERFLOW_COMMAND] = commands.get(OVERFLOW_COMMAND, 0) + overflow
        return Counts(commands, dict(self.metrics))


METRIC_NAMES: tuple[str, ...] = tuple(METRIC_KEYS.values())
