"""Whole-process cases: what importing the package costs, and how long exit waits on a
telemetry endpoint that accepts connections and never answers."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXIT_APP = Path(__file__).resolve().parent / "_exit_app.py"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


_IMPORT_TIMER = """\
import time
t0 = time.perf_counter_ns()
import opentelemetry.sdk.metrics
t1 = time.perf_counter_ns()
import otel_camunda_telemetry
t2 = time.perf_counter_ns()
print(t1 - t0, t2 - t1)
"""


def import_cost(runs: int) -> dict[str, float]:
    """Median ns that a fresh interpreter spends importing the SDK's metrics, and then
    ``otel_camunda_telemetry`` on top of it (timed inside the interpreter, so that process
    start-up and teardown, the noisiest part on a shared machine, stay out of it)."""
    sdk, ours = [], []
    for i in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_TIMER],
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if i:  # the first run only warms the bytecode caches
            sdk.append(int(out[0]))
            ours.append(int(out[1]))
    return {
        "import_sdk_metrics": statistics.median(sdk),
        "import_package_over_sdk": statistics.median(ours),
    }


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def import_breakdown(top: int = 6) -> tuple[int, list[tuple[str, int]]]:
    """What ``import otel_camunda_telemetry`` costs once the SDK is imported (cumulative
    microseconds, ``-X importtime``), and the heaviest modules from outside the package
    that it pulls in (candidates for a lazy import)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import opentelemetry.sdk.metrics\nimport otel_camunda_telemetry",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stderr.splitlines()
    start = max(
        (
            i
            for i, line in enumerate(lines)
            if line.rstrip().endswith("| opentelemetry.sdk.metrics")
        ),
        default=-1,
    )
    entries = []
    for line in lines[start + 1 :]:
        m = _IMPORTTIME.match(line)
        if m:  # (name, cumulative us, nesting depth shown as indentation)
            entries.append((m.group(4), int(m.group(2)), len(m.group(3))))
    package_us = 0
    outside: list[tuple[str, int]] = []
    for i, (name, cumulative, depth) in enumerate(entries):
        if name == "otel_camunda_telemetry":
            package_us = cumulative
            continue
        # The output is post-order: a module's importer is the next line less indented.
        parent = next((e[0] for e in entries[i + 1 :] if e[2] < depth), "")
        if not name.startswith(_PACKAGE) and parent.startswith(_PACKAGE):
            outside.append((name, cumulative))
    outside.sort(key=lambda kv: -kv[1])
    return package_us, outside[:top]


_PACKAGE = "otel_camunda_telemetry"


class HangingServer:
    """A TCP server on 127.0.0.1 that accepts connections, reads nothing, never answers."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()


def _exit_delay_once(
    server: HangingServer, state_dir: str, telemetry: bool, timeout_ms: int
) -> tuple[float, float]:
    """(ns from "shutdown requested" to the end of the atexit handlers, ns to exit)."""
    env = _env(
        CAMUNDA_TELEMETRY_ENDPOINT=f"http://127.0.0.1:{server.port}/pings",
        CAMUNDA_TELEMETRY_STATE=os.path.join(state_dir, "state.sqlite"),
        CAMUNDA_TELEMETRY_INITIALIZE="true",
        CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT=str(timeout_ms),
        BENCH_TELEMETRY="1" if telemetry else "0",
    )
    # stderr is dropped: the exporter rightly warns that the shutdown report was not sent.
    proc = subprocess.Popen(
        [sys.executable, str(EXIT_APP)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        requested = float(proc.stdout.readline())  # the app's monotonic clock, as it returns
        handlers_done = float(proc.stdout.readline())  # ... and after the atexit handlers
        proc.wait(timeout=120)
        exited = time.monotonic()  # CLOCK_MONOTONIC is system-wide: comparable across processes
        proc.stdout.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"exit app failed with {proc.returncode}")
    return (handlers_done - requested) * 1e9, (exited - requested) * 1e9


def exit_delay(runs: int, timeout_ms: int) -> dict[str, float]:
    """Median ns from "shutdown requested" (the app returns from main) to the end of the
    atexit handlers and to process exit, with the real exporter pointed at a hanging
    endpoint, and to process exit without telemetry."""
    server = HangingServer()
    try:
        shutdown, with_t, without = [], [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as state_dir:
                handlers, total = _exit_delay_once(server, state_dir, True, timeout_ms)
                shutdown.append(handlers)
                with_t.append(total)
                without.append(_exit_delay_once(server, state_dir, False, timeout_ms)[1])
    finally:
        server.close()
    return {
        "shutdown_hanging_endpoint": statistics.median(shutdown),
        "exit_delay_hanging_endpoint": statistics.median(with_t),
        "exit_delay_without_telemetry": statistics.median(without),
        "shutdown_timeout": timeout_ms * 1e6,
    }
