"""Fault injection: the real library in subprocesses against a receiver that misbehaves.

Every scenario ends by comparing what the receiver acknowledged (each Idempotency-Key
counted once) with what the applications recorded. Figures worth publishing are printed
as ``FIGURE {...}`` lines (run with ``-s`` to see them; the README's reliability section quotes them).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ._receiver import FaultReceiver
from .conftest import AppProcess, drained, sum_recorded

Launch = Callable[..., AppProcess]

COUNTS_A = {
    "commands": {"StartProcessInstanceCmd": 7, "FetchExternalTasksCmd": 4},
    "metrics": {"root-process-instance-start": 7, "activity-instance-start": 21},
}
COUNTS_B = {
    "commands": {"StartProcessInstanceCmd": 5, "CompleteTaskCmd": 2},
    "metrics": {"executed-decision-instances": 3},
}


def figure(scenario: str, **values: object) -> None:
    print("FIGURE " + json.dumps({"scenario": scenario, **values}))


def assert_exact(
    receiver: FaultReceiver,
    *runs: AppProcess,
    expected: tuple[Counter[str], Counter[str]] | None = None,
) -> None:
    """Acknowledged totals equal recorded totals; no key acknowledged with two bodies."""
    totals = receiver.totals()
    commands, metrics = expected or sum_recorded(*runs)
    assert totals.commands == commands
    assert totals.metrics == metrics
    assert receiver.conflicts == []
    figure(
        "totals",
        recorded=sum(commands.values()) + sum(metrics.values()),
        acknowledged=sum(totals.commands.values()) + sum(totals.metrics.values()),
    )


def test_failure_then_recovery_across_a_restart(
    launch: Launch, fault_receiver: FaultReceiver
) -> None:
    fault_receiver.script([], default="503")
    first = launch(
        [["record", COUNTS_A], ["sleep", 1.5], ["record", COUNTS_B], ["sleep", 1.0]],
        reporting_period=0.5,
        shutdown_timeout_ms=1000,
    )
    assert first.finish() == 0
    assert fault_receiver.attempts, "the app never tried"
    assert fault_receiver.totals().full_reports == 0  # nothing got through
    # Every retry of one report carried the same body under the same key: at most one
    # full report is frozen while the previous one is still owed.
    assert len({a.key for a in fault_receiver.attempts if a.kind == "full"}) == 1

    fault_receiver.script([], default="202")
    drained(launch)
    assert_exact(fault_receiver, first)
    assert fault_receiver.totals().initial_reports == 1
    figure(
        "failure-then-recovery",
        failed_attempts=len(fault_receiver.attempts_by("503")),
    )


def test_sigkill_loses_only_what_was_recorded_since_the_last_collection(
    launch: Launch, fault_receiver: FaultReceiver
) -> None:
    # No periodic collection (60 s) and no report due (1 h): the only checkpoint is the
    # explicit collection ("flush"), so "recorded up to the last checkpoint" is exact.
    victim = launch(
        [["record", COUNTS_A], ["flush"], ["record", COUNTS_B], ["hold"]],
        reporting_period=3600,
        export_interval_ms=60_000,
    )
    victim.wait_event("holding")
    victim.kill()
    assert victim.proc.returncode == -9

    drained(launch, reporting_period=0.5)
    totals = fault_receiver.totals()
    # Exactly what was recorded before the checkpoint: COUNTS_A.
    assert_exact(
        fault_receiver,
        expected=(Counter(COUNTS_A["commands"]), Counter(COUNTS_A["metrics"])),
    )
    lost = sum(COUNTS_B["commands"].values()) + sum(COUNTS_B["metrics"].values())
    figure(
        "sigkill",
        recorded_before_checkpoint=sum(totals.commands.values()) + sum(totals.metrics.values()),
        recorded_after_checkpoint_lost=lost,
    )


def test_four_processes_on_one_state(launch: Launch, fault_receiver: FaultReceiver) -> None:
    # Some failures on the way: retries must not double anything either.
    fault_receiver.script(["503", "reset", "202", "429:0", "202", "reset"], default="202")
    runs = []
    for i in range(4):
        mine = {
            "commands": {"SharedCmd": 10 * (i + 1), f"Worker{i}Cmd": i + 1},
            "metrics": {"activity-instance-start": 100 + i},
        }
        runs.append(
            launch(
                [["record", mine], ["sleep", 0.4], ["record", mine], ["sleep", 1.2]],
                reporting_period=0.3,
                export_interval_ms=100,
            )
        )
    for run in runs:
        assert run.finish() == 0, run.stderr()
    drained(launch)
    totals = fault_receiver.totals()
    assert totals.initial_reports == 1
    assert_exact(fault_receiver, *runs)
    assert fault_receiver.duplicates == 0  # no report was sent twice once accepted
    figure("four-processes", reports=totals.full_reports, attempts=len(fault_receiver.attempts))


def test_fork_after_recording(launch: Launch, fault_receiver: FaultReceiver) -> None:
    # The parent has collected once, records, then forks; the child records the same
    # command too. What the parent recorded before the fork must be counted once, and
    # what the child recorded in its first window must not be lost.
    run = launch(
        [
            ["flush"],
            ["record", {"commands": {"PreForkCmd": 100, "BothCmd": 10}}],
            [
                "fork",
                [["record", {"commands": {"ChildCmd": 50, "BothCmd": 5}}], ["sleep", 0.5]],
            ],
            ["record", {"commands": {"ParentCmd": 30, "BothCmd": 3}}],
            ["sleep", 0.5],
        ],
        export_interval_ms=1000,
    )
    assert run.finish() == 0, run.stderr()
    assert any(e["event"] == "child_exit" for e in run.events)
    drained(launch)
    assert fault_receiver.totals().initial_reports == 1
    assert_exact(fault_receiver, run)


def test_hanging_endpoint_does_not_delay_exit(
    launch: Launch, fault_receiver: FaultReceiver
) -> None:
    fault_receiver.script([], default="hang")
    timeout_s = 1.0
    delays = {}
    runs = []
    for how in ("explicit", "atexit"):
        steps = [["record", COUNTS_A], ["sleep", 0.5]]
        if how == "atexit":
            steps.append(["exit_now"])
        run = launch(
            steps,
            reporting_period=0.2,
            request_timeout_ms=60_000,  # only the shutdown timeout may bound the exit
            shutdown_timeout_ms=int(timeout_s * 1000),
        )
        exiting = run.wait_event("exiting")  # printed just before the shutdown starts
        assert run.finish() == 0
        assert run.ended_at is not None
        delays[how] = round(run.ended_at - exiting["seen_at"], 2)
        # Generous: the machine is shared. The promise is "about the timeout, not 45 s".
        assert delays[how] < timeout_s + 5, delays
        runs.append(run)
    figure("hanging-endpoint", shutdown_timeout_s=timeout_s, exit_delay_s=delays)

    # What could not be delivered was kept: the endpoint recovers, the next start sends it.
    fault_receiver.script([], default="202")
    drained(launch)
    assert_exact(fault_receiver, *runs)


def test_corrupt_state_file_is_moved_aside(
    launch: Launch, fault_receiver: FaultReceiver, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite3"
    state.write_bytes(b"this is not a database\x00\xff" * 200)
    run = launch([["record", COUNTS_A], ["sleep", 1.0]], reporting_period=0.3)
    assert run.finish() == 0
    warnings = [ln for ln in run.log_lines("WARNING") if "corrupt" in ln]
    assert len(warnings) == 1, run.stderr()
    assert list(tmp_path.glob("state.sqlite3.corrupt-*"))
    drained(launch)
    assert fault_receiver.totals().initial_reports == 1
    assert_exact(fault_receiver, run)


def test_retry_after_is_honoured(launch: Launch, fault_receiver: FaultReceiver) -> None:
    # The first POST (the initial report) is throttled for 2 s in delta-seconds, the
    # second report for 2 s as an HTTP date (whole seconds: at least 1 s remains).
    fault_receiver.script(["429:2", "202", "429-date:2"], default="202")
    run = launch(
        [["record", COUNTS_A], ["sleep", 4.0]], reporting_period=0.5, shutdown_timeout_ms=3000
    )
    assert run.finish() == 0
    attempts = fault_receiver.attempts
    first_key = attempts[0].key
    again = [a for a in attempts if a.key == first_key]
    assert [a.action for a in again] == ["429:2", "202"]
    gap_seconds = again[1].at - again[0].at
    assert gap_seconds >= 1.95
    dated = [a for a in attempts if a.action == "429-date:2"]
    assert dated, "the second report was never throttled"
    drained(launch)  # the retry may come from this next start: the wait is in the state
    retry = [a for a in fault_receiver.attempts if a.key == dated[0].key and a is not dated[0]]
    assert retry, "the throttled report was never retried"
    gap_date = retry[0].at - dated[0].at
    assert gap_date >= 0.95
    assert_exact(fault_receiver, run)
    figure("retry-after", asked=2, waited_seconds=gap_seconds, waited_http_date=gap_date)


def test_400_drops_the_report_with_an_error_naming_the_status(
    launch: Launch, fault_receiver: FaultReceiver
) -> None:
    fault_receiver.script(["400"], default="202")
    run = launch([["record", COUNTS_A], ["sleep", 1.5]], reporting_period=0.5)
    assert run.finish() == 0
    refused = fault_receiver.attempts[0]
    assert refused.action == "400"
    assert [a.key for a in fault_receiver.attempts].count(refused.key) == 1  # no retry
    errors = run.log_lines("ERROR")
    assert len(errors) == 1 and "HTTP 400" in errors[0], run.stderr()
    drained(launch)
    assert fault_receiver.totals().initial_reports == 0  # the refused one was dropped
    assert_exact(fault_receiver, run)  # the counts travel in full reports


def test_dead_endpoint_no_hot_loop_and_one_warning(
    launch: Launch, fault_receiver: FaultReceiver
) -> None:
    fault_receiver.script([], default="503")
    window = 5.0
    run = launch(
        [["record", COUNTS_A], ["sleep", window], ["exit_now"]],
        reporting_period=0.2,
        shutdown_timeout_ms=500,
    )
    assert run.finish() == 0
    attempts = fault_receiver.attempts
    # 3 attempts per cycle, cycles 0.3 s apart doubling to 1 s: about 20 in 5 s. A hot loop
    # would make thousands; allow a wide margin either way.
    assert 3 <= len(attempts) <= 45, len(attempts)
    warnings = [ln for ln in run.log_lines("WARNING") if "not delivered" in ln]
    assert len(warnings) == 1, run.stderr()
    figure("dead-endpoint", window_s=window, attempts=len(attempts), warnings=len(warnings))
    fault_receiver.script([], default="202")
    drained(launch)
    assert_exact(fault_receiver, run)
