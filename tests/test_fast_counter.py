"""The fast counters: exact under threads, folded on thread churn, correct after fork,
and read by the SDK like any OTel counter (DELTA and CUMULATIVE readers)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.metrics import MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from otel_camunda_telemetry import CamundaTelemetryExporter
from otel_camunda_telemetry._fast_counter import (
    FastCounter,
    FastMetricCounter,
    create_fast_counters,
)
from otel_camunda_telemetry._instruments import (
    COMMANDS,
    EXECUTED_DECISION_ELEMENTS,
    ROOT_PROCESS_INSTANCE_START,
)

DELTA: dict[type, AggregationTemporality] = {ObservableCounter: AggregationTemporality.DELTA}


class Readers:
    """A real MeterProvider with one DELTA and one CUMULATIVE in-memory reader."""

    def __init__(self) -> None:
        self.delta = InMemoryMetricReader(preferred_temporality=DELTA)
        self.cumulative = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.delta, self.cumulative])
        self.meter = self.provider.get_meter("engine")


@pytest.fixture
def readers() -> Iterator[Readers]:
    r = Readers()
    yield r
    r.provider.shutdown()


def points(data: MetricsData | None, name: str) -> dict[str | None, int]:
    """``{command (None when attribute-less): value}`` of instrument ``name``."""
    found: dict[str | None, int] = {}
    if data is None:
        return found
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != name:
                    continue
                for p in metric.data.data_points:
                    assert isinstance(p, NumberDataPoint)
                    key = (p.attributes or {}).get("command")
                    found[key if isinstance(key, str) else None] = int(p.value)
    return found


def wait_until(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_counts_reach_delta_and_cumulative_readers(readers: Readers) -> None:
    commands = FastCounter(readers.meter)
    commands.inc("StartProcessInstanceCmd")
    commands.inc("StartProcessInstanceCmd", 2)
    commands.bind("FetchExternalTasksCmd").inc(5)

    expected = {"StartProcessInstanceCmd": 3, "FetchExternalTasksCmd": 5}
    assert points(readers.delta.get_metrics_data(), COMMANDS) == expected
    assert points(readers.cumulative.get_metrics_data(), COMMANDS) == expected

    commands.inc("StartProcessInstanceCmd")
    delta = points(readers.delta.get_metrics_data(), COMMANDS)
    assert delta["StartProcessInstanceCmd"] == 1
    assert delta.get("FetchExternalTasksCmd", 0) == 0  # nothing new: zero or absent
    assert points(readers.cumulative.get_metrics_data(), COMMANDS) == {
        "StartProcessInstanceCmd": 4,
        "FetchExternalTasksCmd": 5,
    }


def test_many_threads_lose_no_increment_while_collected(readers: Readers) -> None:
    commands = FastCounter(readers.meter)
    bound = commands.bind("BoundCmd")
    threads, per_thread = 8, 50_000
    start = threading.Barrier(threads + 1)
    deltas: dict[str, int] = {}
    done = threading.Event()

    def work(i: int) -> None:
        start.wait()
        name = f"Cmd{i % 3}"
        for _ in range(per_thread):
            commands.inc(name)
            bound.inc()

    def collect() -> None:
        # Collect while the writers write: every delta must add up to the exact total.
        while not done.is_set():
            for k, v in points(readers.delta.get_metrics_data(), COMMANDS).items():
                assert k is not None
                deltas[k] = deltas.get(k, 0) + v
            time.sleep(0.001)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    collector = threading.Thread(target=collect)
    for t in [*workers, collector]:
        t.start()
    start.wait()
    for t in workers:
        t.join()
    done.set()
    collector.join()
    for k, v in points(readers.delta.get_metrics_data(), COMMANDS).items():
        assert k is not None
        deltas[k] = deltas.get(k, 0) + v

    expected = {
        "Cmd0": 3 * per_thread,
        "Cmd1": 3 * per_thread,
        "Cmd2": 2 * per_thread,
        "BoundCmd": threads * per_thread,
    }
    assert deltas == expected
    assert points(readers.cumulative.get_metrics_data(), COMMANDS) == expected
    assert commands.totals() == expected


def test_finished_threads_are_folded(readers: Readers) -> None:
    commands = FastCounter(readers.meter)

    def work() -> None:
        commands.inc("ShortLivedCmd")

    for _ in range(20):
        batch = [threading.Thread(target=work) for _ in range(10)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()
        commands.totals()

    # Only live threads keep a dict of their own; finished ones are merged into one total.
    wait_until(lambda: commands.totals() and commands._thread_slots() == 0)
    assert commands.totals() == {"ShortLivedCmd": 200}
    assert points(readers.cumulative.get_metrics_data(), COMMANDS) == {"ShortLivedCmd": 200}


def test_metric_counter_has_no_point_before_first_increment(readers: Readers) -> None:
    starts = FastMetricCounter(readers.meter, ROOT_PROCESS_INSTANCE_START)
    assert points(readers.delta.get_metrics_data(), ROOT_PROCESS_INSTANCE_START) == {}
    starts.inc()
    starts.inc(4)
    assert points(readers.delta.get_metrics_data(), ROOT_PROCESS_INSTANCE_START) == {None: 5}
    assert starts.total() == 5


def test_create_fast_counters_registers_all_five(readers: Readers) -> None:
    counters = create_fast_counters(readers.meter)
    counters.commands.inc("StartProcessInstanceCmd")
    counters.root_process_instance_start.inc()
    counters.activity_instance_start.inc(2)
    counters.executed_decision_instances.inc(3)
    counters.executed_decision_elements.inc(4)
    data = readers.cumulative.get_metrics_data()
    assert points(data, COMMANDS) == {"StartProcessInstanceCmd": 1}
    assert points(data, EXECUTED_DECISION_ELEMENTS) == {None: 4}
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}  # type: ignore[union-attr]
    assert len(names) == 5


def test_negative_amount_is_ignored_not_raised(
    readers: Readers, caplog: pytest.LogCaptureFixture
) -> None:
    commands = FastCounter(readers.meter)
    commands.inc("Cmd", 2)
    commands.inc("Cmd", -1)
    commands.bind("Cmd").inc(-1)
    assert commands.totals() == {"Cmd": 2}
    assert "negative" in caplog.text


def test_works_with_a_no_op_meter() -> None:
    commands = FastCounter(NoOpMeter("engine"))
    commands.inc("Cmd")
    assert commands.totals() == {"Cmd": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_fork_child_does_not_deadlock_and_counts_on(readers: Readers) -> None:
    commands = FastCounter(readers.meter)
    commands.inc("BeforeForkCmd", 3)
    parked = threading.Event()
    release = threading.Event()

    def live_writer() -> None:
        commands.inc("OtherThreadCmd", 2)
        # Park while holding the collection lock, as a collection in progress would.
        with commands._lock:
            parked.set()
            release.wait(60)

    writer = threading.Thread(target=live_writer)
    writer.start()
    parked.wait(60)
    read_fd, write_fd = os.pipe()
    # The fork happens while another thread holds the collection lock: without the
    # at-fork reinit, the child's first collection would wait forever.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # the child: report what it sees, then leave without running pytest's exit
        code = 1
        try:
            commands.inc("BeforeForkCmd")
            commands.inc("ChildCmd")
            result = {
                "totals": commands.totals(),
                "cumulative": points(readers.cumulative.get_metrics_data(), COMMANDS),
            }
            os.write(write_fd, json.dumps(result).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        deadline = time.monotonic() + 60
        while True:
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child hung (deadlock after fork)")
            time.sleep(0.02)
        with os.fdopen(read_fd, "rb") as pipe:
            result = json.loads(pipe.read() or b"null")
    finally:
        release.set()
        writer.join()
    assert os.waitstatus_to_exitcode(status) == 0
    expected = {"BeforeForkCmd": 4, "OtherThreadCmd": 2, "ChildCmd": 1}
    assert result == {"totals": expected, "cumulative": expected}
    # The parent is unaffected by what the child counted.
    assert commands.totals() == {"BeforeForkCmd": 3, "OtherThreadCmd": 2}


def test_counts_reach_the_camunda_report(tmp_path: Path) -> None:
    exporter = CamundaTelemetryExporter(
        endpoint=None, state=str(tmp_path / "state.sqlite"), initialize=True
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create(
            {"camunda.product.name": "Fast Engine", "camunda.product.version": "1.0.0"}
        ),
        metric_readers=[reader],
    )
    control = exporter.control
    try:
        counters = create_fast_counters(provider.get_meter("engine"))
        counters.commands.inc("StartProcessInstanceCmd", 2)
        counters.commands.bind("FetchExternalTasksCmd").inc()
        counters.root_process_instance_start.inc(2)
        counters.activity_instance_start.inc(7)
        assert provider.force_flush()
        counters.commands.inc("StartProcessInstanceCmd")  # a second window adds up
        assert provider.force_flush()

        internals = control.preview()["product"]["internals"]
        assert internals["commands"] == {
            "StartProcessInstanceCmd": {"count": 3},
            "FetchExternalTasksCmd": {"count": 1},
        }
        assert internals["metrics"] == {
            "root-process-instance-start": {"count": 2},
            "activity-instance-start": {"count": 7},
            "executed-decision-instances": {"count": 0},
            "executed-decision-elements": {"count": 0},
        }
    finally:
        control.close()
        provider.shutdown()
