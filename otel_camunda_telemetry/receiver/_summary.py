"""What the dashboard shows, computed from stored reports (pure: reports in, dict out).

Every chart is a list of ``{"label": str, "value": int}`` points, so the HTML dashboard and
``GET /api/summary`` are two renderings of one structure and can be checked against each
other. Counts per installation use each installation's most recent report carrying the
field, so an upgrade moves an installation from one version to the next.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypedDict

from ._storage import StoredReport

__all__ = ["CHARTS", "Point", "summarize"]

#: Chart keys of the summary, in dashboard order, with their titles.
CHARTS: dict[str, str] = {
    "installations_over_time": "Installations over time (cumulative, by first report)",
    "reports_per_day": "Reports per day",
    "product_versions": "Product versions (installations)",
    "editions": "Editions (installations)",
    "top_commands": "Top commands (total count)",
    "metrics": "Metric totals",
    "databases": "Databases (installations)",
    "runtimes": "Runtimes / JDKs (installations)",
    "application_servers": "Application servers (installations)",
    "flags": "Flagged reports by reason",
}
_METRICS = (
    "root-process-instance-start",
    "activity-instance-start",
    "executed-decision-instances",
    "executed-decision-elements",
)
_MAX_POINTS = 15  # longer category lists fold their tail into one "(rest)" bar
_REST = "(rest)"


class Point(TypedDict):
    """One bar of a chart."""

    label: str
    value: int


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).date().isoformat()


def _ranked(counter: Mapping[str, int], limit: int = _MAX_POINTS) -> list[Point]:
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    points = [Point(label=label, value=value) for label, value in ordered[: limit - 1]]
    tail = ordered[limit - 1 :]
    if len(tail) == 1:
        points.append(Point(label=tail[0][0], value=tail[0][1]))
    elif tail:
        points.append(Point(label=_REST, value=sum(value for _, value in tail)))
    return points


def _vendor_version(section: object) -> str | None:
    if not isinstance(section, dict):
        return None
    parts = [str(section[key]) for key in ("vendor", "version") if section.get(key)]
    return " ".join(parts) or None


def summarize(reports: Iterable[StoredReport], *, now: float) -> dict[str, Any]:
    """Aggregate reports (oldest first) into totals and chart points.

    Example:
        >>> summarize([], now=0.0)["totals"]["reports"]
        0
    """
    by_kind: Counter[str] = Counter()
    per_day: Counter[str] = Counter()
    first_seen: dict[str, str] = {}
    product: dict[str, tuple[str, str]] = {}  # installation -> (name version, edition)
    latest: dict[str, dict[str, str]] = {}  # installation -> chart -> label
    commands: Counter[str] = Counter()
    metrics: Counter[str] = Counter(dict.fromkeys(_METRICS, 0))
    flags: Counter[str] = Counter()
    total = 0
    for report in reports:
        total += 1
        by_kind[report.kind] += 1
        day = _day(report.received_at)
        per_day[day] += 1
        first_seen.setdefault(report.installation, day)
        product[report.installation] = (
            f"{report.product_name} {report.product_version}",
            report.product_edition,
        )
        if report.flagged:
            flags[report.flagged] += 1
        internals = report.body.get("product", {}).get("internals", {})
        sections = latest.setdefault(report.installation, {})
        for chart, key in (
            ("databases", "database"),
            ("runtimes", "jdk"),
            ("application_servers", "application-server"),
        ):
            label = _vendor_version(internals.get(key))
            if label:
                sections[chart] = label
        for name, entry in internals.get("commands", {}).items():
            commands[name] += int(entry.get("count", 0))
        for name, entry in internals.get("metrics", {}).items():
            metrics[name] += int(entry.get("count", 0))

    new_per_day = Counter(first_seen.values())
    cumulative: list[Point] = []
    running = 0
    for day in sorted(per_day):
        running += new_per_day[day]
        cumulative.append(Point(label=day, value=running))

    def per_installation(chart: str) -> list[Point]:
        return _ranked(Counter(s[chart] for s in latest.values() if chart in s))

    charts: dict[str, list[Point]] = {
        "installations_over_time": cumulative,
        "reports_per_day": [Point(label=d, value=per_day[d]) for d in sorted(per_day)],
        "product_versions": _ranked(Counter(name for name, _ in product.values())),
        "editions": _ranked(Counter(edition for _, edition in product.values())),
        "top_commands": _ranked(commands, limit=10),
        "metrics": [Point(label=name, value=metrics[name]) for name in _METRICS],
        "databases": per_installation("databases"),
        "runtimes": per_installation("runtimes"),
        "application_servers": per_installation("application_servers"),
        "flags": _ranked(flags),
    }
    return {
        "generated_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
        "totals": {
            "reports": total,
            "installations": len(first_seen),
            "flagged": sum(flags.values()),
            "by_kind": {
                kind: by_kind[kind] for kind in ("engine-initial", "engine-full", "optimize")
            },
        },
        "charts": charts,
    }
