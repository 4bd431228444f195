"""Several application processes sharing one installation through PostgreSQL (issue 7).

Each node is a real process with a real ``MeterProvider``, ``PeriodicExportingMetricReader``
and ``CamundaTelemetryExporter``; reports go to the real receiver on 127.0.0.1:0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _cluster import (
    Cluster,
    PostgresServer,
    acknowledged_totals,
    require_psycopg,
    wait_until,
)

from otel_camunda_telemetry._config import Settings
from otel_camunda_telemetry._control import TelemetryControl
from otel_camunda_telemetry.receiver import ReceiverServer

psycopg = require_psycopg()

NODES = 4


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverServer]:
    # No rate limit: every node posts from 127.0.0.1, which is one client to the limiter.
    with ReceiverServer(db=tmp_path / "reports.sqlite3", rate_limit=None) as server:
        yield server


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(tmp_path)
    try:
        yield nodes
    finally:
        nodes.close()


def bodies(receiver: ReceiverServer, kind: str) -> list[dict[str, Any]]:
    return [r.body for r in receiver.store.reports() if r.kind == kind]


def flush_remaining(state: str, receiver: ReceiverServer) -> None:
    """Report what the stopped nodes left in the state, as a later start would.

    The clock is an hour ahead so that leases and retry delays of reports a node was still
    holding at shutdown have run out.
    """
    settings = Settings.resolve(endpoint=receiver.url, state=state, env={})
    control = TelemetryControl(settings=settings, clock=lambda: time.time() + 3600)
    try:
        summary = control.send_now(timeout=60)
        assert summary.waiting == 0, summary
        assert control.store.pending_counts().is_empty()
    finally:
        control.close()


def test_concurrent_first_start_makes_one_installation_and_one_initial_report(
    pg_database: str, receiver: ReceiverServer, cluster: Cluster
) -> None:
    cluster.start(NODES, state=pg_database, endpoint=receiver.url, period=3600)

    cluster.call_all("record", commands={"StartProcessInstanceCmd": 1})
    cluster.call_all("flush")
    wait_until(
        lambda: all(r["status"]["initialReportSent"] for r in cluster.call_all("status")),
        "every node to see the initial report acknowledged",
    )
    ids = {r["status"]["installationId"] for r in cluster.call_all("status")}
    cluster.stop_all()

    assert len(ids) == 1, ids
    initial = bodies(receiver, "engine-initial")
    assert len(initial) == 1, initial
    assert initial[0]["installation"] in ids
    assert initial[0]["product"]["internals"] == {"telemetry-enabled": True}
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM telemetry_installation").fetchone() == (1,)
        assert conn.execute(
            "SELECT value FROM telemetry_meta WHERE key = 'schema_version'"
        ).fetchone() == ("1",)
    # Nobody tripped over anybody else's CREATE TABLE or INSERT.
    log = cluster.stderr()
    assert "WARNING" not in log and "ERROR" not in log and "Traceback" not in log, log


def test_four_nodes_over_several_periods_report_exact_totals_once_per_period(
    pg_database: str, receiver: ReceiverServer, cluster: Cluster
) -> None:
    period = 1.5
    cluster.start(NODES, state=pg_database, endpoint=receiver.url, period=period)
    cluster.call_all("load", on=True)
    wait_until(lambda: len(bodies(receiver, "engine-full")) >= 3, "three periodic reports")
    periodic = len(bodies(receiver, "engine-full"))
    elapsed = time.time() - cluster.started_at
    recorded = cluster.stop_all()
    flush_remaining(pg_database, receiver)

    full = bodies(receiver, "engine-full")
    assert acknowledged_totals(full) == recorded
    assert sum(recorded["commands"].values()) > 0 and sum(recorded["metrics"].values()) > 0
    # One report per period for the installation, not one per node: the first period
    # starts at consent (no earlier than the nodes' start), each next one when the previous
    # report was acknowledged, so n reports take at least n periods.
    assert periodic <= elapsed / period, (periodic, elapsed)
    assert len({body["installation"] for body in full}) == 1


def test_a_toggle_on_one_node_governs_every_node(
    pg_database: str, receiver: ReceiverServer, cluster: Cluster
) -> None:
    nodes = cluster.start(3, state=pg_database, endpoint=receiver.url, period=3600)

    nodes[0].call("disable")
    assert [r["status"]["enableTelemetry"] for r in cluster.call_all("status")] == [False] * 3
    cluster.call_all(
        "record", commands={"CompleteTaskCmd": 5}, metrics={"activity-instance-start": 7}
    )
    cluster.call_all("flush")
    assert pending(pg_database) == {}  # recorded while off: never stored, never sent

    nodes[2].call("enable")
    # A collection after the toggle closes the window that began before it: what was
    # recorded before consent is dropped, what comes after is counted on every node.
    cluster.call_all("flush")
    for i, node in enumerate(nodes):
        node.call(
            "record", commands={"CompleteTaskCmd": i + 1}, metrics={"activity-instance-start": 10}
        )
    cluster.call_all("flush")
    assert pending(pg_database) == {
        ("command", "CompleteTaskCmd"): 1 + 2 + 3,
        ("metric", "activity-instance-start"): 30,
    }

    nodes[1].call("disable")
    assert pending(pg_database) == {}  # withdrawing consent forgets what was not yet sent
    cluster.call_all("record", commands={"CompleteTaskCmd": 1})
    cluster.call_all("flush")
    assert pending(pg_database) == {}
    cluster.stop_all()
    assert bodies(receiver, "engine-full") == []  # off at shutdown: no full report


def test_totals_stay_exact_across_a_database_restart(
    pg_database: str,
    postgres_server: PostgresServer,
    receiver: ReceiverServer,
    cluster: Cluster,
) -> None:
    period = 2.0
    cluster.start(NODES, state=pg_database, endpoint=receiver.url, period=period)
    cluster.call_all("load", on=True)
    wait_until(lambda: len(bodies(receiver, "engine-full")) >= 1, "a report before the outage")

    postgres_server.stop()
    time.sleep(3 * period)  # the nodes keep counting with the database gone
    before = len(bodies(receiver, "engine-full"))
    postgres_server.start()

    wait_until(
        lambda: len(bodies(receiver, "engine-full")) >= before + 2, "two reports after the restart"
    )
    recorded = cluster.stop_all()
    flush_remaining(pg_database, receiver)

    assert acknowledged_totals(bodies(receiver, "engine-full")) == recorded
    log = cluster.stderr()
    assert "counts kept in memory" in log, log  # the outage was noticed, and survived


def pending(url: str) -> dict[tuple[str, str], int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT kind, name, count FROM telemetry_counts").fetchall()
    return {(kind, name): count for kind, name, count in rows}
