"""The dashboard page: the summary drawn as inline SVG bar charts, rendered on the server.

No script and no external asset is needed to see the numbers (the page works offline and
under a strict Content-Security-Policy); each bar carries ``data-label``/``data-value`` so
tests and scrapers can read the exact figures.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from html import escape
from importlib import resources
from string import Template
from typing import Any

from ._summary import CHARTS, Point

__all__ = ["render_dashboard"]

_TIME_CHARTS = {"installations_over_time", "reports_per_day"}
_TOTALS = {
    "reports": "Reports",
    "installations": "Installations",
    "flagged": "Flagged reports",
}
_WIDTH = 440
_ROW = 22
_LABEL_W = 200
_VALUE_W = 60


@functools.cache
def _template() -> Template:
    text = resources.files(__package__).joinpath("dashboard.html").read_text(encoding="utf-8")
    return Template(text)


def _bars(points: Sequence[Point]) -> str:
    """Horizontal bars, one row per point, scaled to the largest value."""
    top = max((p["value"] for p in points), default=0) or 1
    span = _WIDTH - _LABEL_W - _VALUE_W
    rows = []
    for i, point in enumerate(points):
        y = i * _ROW
        width = round(span * point["value"] / top, 1)
        label, value = escape(point["label"]), point["value"]
        rows.append(
            f'<g class="bar" data-label="{label}" data-value="{value}">'
            f"<title>{label}: {value}</title>"
            f'<text class="label" x="0" y="{y + 15}">{escape(_clip(point["label"]))}</text>'
            f'<rect class="fill" x="{_LABEL_W}" y="{y + 4}" width="{width}" height="{_ROW - 8}"/>'
            f'<text class="value" x="{_LABEL_W + width + 6}" y="{y + 15}">{value}</text></g>'
        )
    height = max(len(points) * _ROW, _ROW)
    return (
        f'<svg viewBox="0 0 {_WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg">'
        + "".join(rows)
        + "</svg>"
    )


def _clip(label: str, limit: int = 30) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _chart(key: str, title: str, points: Sequence[Point]) -> str:
    kind = "time" if key in _TIME_CHARTS else "category"
    body = _bars(points) if points else '<p class="empty">No data yet.</p>'
    return (
        f'<figure class="chart" id="chart-{key}" data-chart="{key}" data-kind="{kind}">'
        f"<figcaption>{escape(title)}</figcaption>{body}</figure>"
    )


def render_dashboard(summary: dict[str, Any]) -> str:
    """Render the HTML page for a summary made by ``summarize``.

    Example:
        >>> from otel_camunda_telemetry.receiver._summary import summarize
        >>> 'data-chart="metrics"' in render_dashboard(summarize([], now=0.0))
        True
    """
    totals = summary["totals"]
    cards = [
        f'<div class="total" data-total="{key}"><span class="value">{totals[key]}</span>'
        f'<span class="name">{escape(name)}</span></div>'
        for key, name in _TOTALS.items()
    ]
    charts = [_chart(key, title, summary["charts"][key]) for key, title in CHARTS.items()]
    return _template().substitute(
        generated_at=escape(summary["generated_at"]),
        totals="\n".join(cards),
        charts="\n".join(charts),
    )
