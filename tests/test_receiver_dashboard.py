"""The summary's numbers, and the dashboard drawing them in a real headless Chromium."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import CHROMIUM, CHROMIUM_ARGS
from _receiver_http import golden, post_report, request

from otel_camunda_telemetry.receiver import ReceiverServer


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[ReceiverServer]:
    """A receiver holding the three seed reports plus a second, community engine."""
    with ReceiverServer(db=tmp_path / "r.sqlite3", rate_limit=None) as server:
        for name in ("engine_initial", "engine_full", "optimize"):
            assert post_report(server.url, golden(name))[0] == 202
        other = golden("engine_full")
        other["installation"] = str(uuid.uuid4())
        other["product"].update(version="7.15.0", edition="community")
        internals = other["product"]["internals"]
        internals["database"] = {"vendor": "postgresql", "version": "15.4"}
        internals["jdk"] = {"vendor": "CPython", "version": "3.11.7"}
        internals["commands"] = {"FetchExternalTasksCmd": {"count": 5}, "(other)": {"count": 2}}
        assert post_report(server.url, other)[0] == 202
        yield server


def _summary(server: ReceiverServer) -> dict[str, Any]:
    status, headers, body = request(server.base_url + "/api/summary")
    assert status == 200 and headers["content-type"] == "application/json"
    return dict(json.loads(body))


def _points(*pairs: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"label": label, "value": value} for label, value in pairs]


def test_summary_counts_reports_installations_and_usage(seeded: ReceiverServer) -> None:
    summary = _summary(seeded)
    assert summary["totals"] == {
        "reports": 4,
        "installations": 4,
        "flagged": 0,
        "by_kind": {"engine-initial": 1, "engine-full": 2, "optimize": 1},
    }
    charts = summary["charts"]
    (day,) = [p["label"] for p in charts["reports_per_day"]]
    assert charts["installations_over_time"] == _points((day, 4))
    assert charts["reports_per_day"] == _points((day, 4))
    assert charts["product_versions"] == _points(
        ("Camunda BPM Runtime 7.14.0", 2),
        ("Camunda BPM Runtime 7.15.0", 1),
        ("Camunda Optimize 3.2.0", 1),
    )
    assert charts["editions"] == _points(("community", 2), ("enterprise", 2))
    assert charts["top_commands"] == _points(
        ("FetchExternalTasksCmd", 105),
        ("StartProcessInstanceCmd", 40),
        ("(other)", 2),
    )
    assert charts["metrics"] == _points(
        ("root-process-instance-start", 1872),
        ("activity-instance-start", 12250),
        ("executed-decision-instances", 280),
        ("executed-decision-elements", 1464),
    )
    assert charts["databases"] == _points(
        ("elasticsearch 7.0.0", 1),
        ("h2 1.4.190 (2015-10-11)", 1),
        ("postgresql 15.4", 1),
    )
    assert charts["runtimes"] == _points(("CPython 3.11.7", 1), ("Oracle Corporation 14.0.2", 1))
    assert charts["flags"] == []


_READ_DOM = """() => {
  const charts = {};
  for (const fig of document.querySelectorAll("figure[data-chart]")) {
    charts[fig.dataset.chart] = [...fig.querySelectorAll("g.bar")].map(g => {
      const rect = g.querySelector("rect").getBoundingClientRect();
      return {label: g.dataset.label, value: Number(g.dataset.value),
              shown: g.querySelector("text.value").textContent, width: rect.width};
    });
  }
  const totals = {};
  for (const card of document.querySelectorAll("[data-total]")) {
    totals[card.dataset.total] = Number(card.querySelector(".value").textContent);
  }
  return {charts, totals, svgs: document.querySelectorAll("svg").length};
}"""


def test_dashboard_renders_the_summary_in_chromium(seeded: ReceiverServer, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip(
        "playwright.sync_api",
        reason="needs the playwright package (pip install playwright; no browser download)",
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("needs a Chromium binary: apt-get install chromium, or set CHROMIUM_PATH")
    expected = _summary(seeded)
    external: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=120_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "request",
                lambda r: external.append(r.url) if not r.url.startswith(seeded.base_url) else None,
            )
            response = page.goto(seeded.base_url + "/", timeout=120_000)
            assert response is not None and response.status == 200
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            dom = page.evaluate(_READ_DOM)
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert external == []  # no external asset of any kind
    assert dom["totals"] == {
        k: expected["totals"][k] for k in ("reports", "installations", "flagged")
    }
    assert set(dom["charts"]) == set(expected["charts"])
    for name, points in expected["charts"].items():
        drawn = dom["charts"][name]
        assert [{"label": b["label"], "value": b["value"]} for b in drawn] == points, name
        assert [b["shown"] for b in drawn] == [str(p["value"]) for p in points], name
        # Bars are drawn to scale: the largest value has the widest bar.
        if points and max(p["value"] for p in points) > 0:
            widest = max(drawn, key=lambda b: b["width"])
            assert widest["value"] == max(p["value"] for p in points) and widest["width"] > 0
    assert dom["svgs"] == sum(1 for points in expected["charts"].values() if points)
