"""Fixtures of the fault-injection suite: the faulty receiver and app subprocesses."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._receiver import FaultReceiver

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("_app.py")
#: Small delays everywhere, so the whole suite runs in about a minute.
FAST_POLICY = {"backoff_base": 0.05, "backoff_max": 0.2, "cycle_base": 0.3, "cycle_max": 1.0}
#: Generous waits: the machine is shared with other test runs.
WAIT = 60.0


class AppProcess:
    """One run of ``_app.py``: its JSON events as they come, its stderr at the end."""

    def __init__(self, config: dict[str, Any], stderr_path: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(APP), json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=ROOT,
            env=env,
        )
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ended_at: float | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_event(self, name: str, timeout: float = WAIT) -> dict[str, Any]:
        """Block until the app prints ``name``; returns that event."""
        for event in self.events:
            if event["event"] == name:
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"app never printed {name!r}; got {self.events}")
            try:
                got = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if got is None:
                self._queue.put(None)
                raise AssertionError(
                    f"app ended without {name!r}; events {self.events}; stderr {self.stderr()}"
                )
            event = got
            event["seen_at"] = time.monotonic()
            self.events.append(event)
            if event["event"] == name:
                return event

    def finish(self, timeout: float = WAIT) -> int:
        """Wait for the exit; collect the remaining events; returns the exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"app did not exit in {timeout} s; stderr {self.stderr()}"
            ) from None
        self.ended_at = time.monotonic()
        self._drain()
        return code

    def kill(self) -> None:
        """SIGKILL: no atexit, no shutdown, nothing flushed."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(WAIT)
        self.ended_at = time.monotonic()
        self._drain()

    def _drain(self) -> None:
        self._reader.join(WAIT)
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            if event is not None:
                event.setdefault("seen_at", time.monotonic())
                self.events.append(event)
        self.close()

    def close(self) -> None:
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def recorded(self) -> tuple[Counter[str], Counter[str]]:
        """Commands and metrics this process (and its forked children) recorded."""
        commands: Counter[str] = Counter()
        metrics: Counter[str] = Counter()
        for event in self.events:
            if event["event"] == "recorded":
                commands.update(event.get("commands", {}))
                metrics.update(event.get("metrics", {}))
        return commands, metrics

    def log_lines(self, level: str) -> list[str]:
        return [ln for ln in self.stderr().splitlines() if ln.startswith(level + " ")]


@pytest.fixture
def fault_receiver() -> Iterator[FaultReceiver]:
    """A receiver that accepts everything until a test scripts faults."""
    with FaultReceiver() as server:
        yield server


@pytest.fixture
def launch(tmp_path: Path, fault_receiver: FaultReceiver) -> Iterator[Callable[..., AppProcess]]:
    """Start ``_app.py`` with the real library against the fault receiver and tmp state."""
    runs: list[AppProcess] = []

    def start(steps: list[Any], **config: Any) -> AppProcess:
        config.setdefault("endpoint", fault_receiver.url)
        config.setdefault("state", str(tmp_path / "state.sqlite3"))
        config.setdefault("policy", FAST_POLICY)
        config.setdefault("retries", 2)
        config["steps"] = steps
        run = AppProcess(config, tmp_path / f"app-{len(runs)}.stderr")
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.kill()
        run.close()


def sum_recorded(*runs: AppProcess) -> tuple[Counter[str], Counter[str]]:
    """What several runs recorded together."""
    commands: Counter[str] = Counter()
    metrics: Counter[str] = Counter()
    for run in runs:
        c, m = run.recorded()
        commands.update(c)
        metrics.update(m)
    return commands, metrics


def drained(launch: Callable[..., AppProcess], **config: Any) -> AppProcess:
    """A last start that sends whatever is still owed and waits until the state is empty."""
    run = launch([["until_idle", WAIT]], **config)
    assert run.finish() == 0
    assert any(e["event"] == "idle" for e in run.events), run.stderr()
    return run
