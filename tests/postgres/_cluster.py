"""Drive several node processes (``_node.py``) and sum what the receiver acknowledged."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

NODE = Path(__file__).with_name("_node.py")
REPO = Path(__file__).resolve().parents[2]
START_SCRIPT = REPO / "scripts" / "start-postgres.sh"
TIMEOUT = 120.0  # generous: the machine is shared with other test runs


URL_VARIABLE = "OTEL_CT_TEST_POSTGRES_URL"
HOW_TO_RUN = (
    f"run `scripts/start-postgres.sh` (as root or the server's owner) and "
    f"`export {URL_VARIABLE}=postgresql://postgres@127.0.0.1:55432/telemetry`"
)


def in_ci() -> bool:
    """True on a CI runner, where a missing server is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_psycopg() -> ModuleType:
    """psycopg, or a skip of the calling test module (a collection error in CI)."""
    if in_ci():
        import psycopg

        return psycopg
    return pytest.importorskip(
        "psycopg", reason=f"needs the [postgres] extra (psycopg 3); {HOW_TO_RUN}"
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class NodeProcess:
    """One application process of the cluster, spoken to in JSON lines."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.stderr.log"
        self._log: IO[str] = self.log_path.open("w", encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        for variable in [v for v in env if v.startswith(("CAMUNDA_TELEMETRY_", "OTEL_"))]:
            del env[variable]  # the node gets its whole configuration from its arguments
        self.proc = subprocess.Popen(
            [sys.executable, str(NODE), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The node's next JSON line."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise AssertionError(f"{self.name} exited ({self.proc.wait()}):\n{self.stderr()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"{self.name}: {reply['error']}\n{self.stderr()}")
        return reply

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def stderr(self) -> str:
        """What the node logged so far."""
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8")

    def close(self) -> None:
        """End the process (if still running) and release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        self._reader.join(timeout=60)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._log.close()


class Cluster:
    """Several nodes sharing one PostgreSQL state, reporting to one receiver."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.nodes: list[NodeProcess] = []
        #: Wall-clock time before any exporter of the last started nodes was made.
        self.started_at = 0.0

    def start(
        self,
        count: int,
        *,
        state: str,
        endpoint: str,
        period: float,
        interval_ms: int = 200,
        initialize: bool = True,
        together: bool = True,
    ) -> list[NodeProcess]:
        """Start ``count`` nodes; with ``together``, all build their exporter at one instant."""
        start_at = time.time() + 4.0 if together else 0.0
        self.started_at = start_at or time.time()
        args = [
            "--state", state, "--endpoint", endpoint, "--period", str(period),
            "--interval-ms", str(interval_ms), "--start-at", str(start_at),
        ]  # fmt: skip
        if initialize:
            args.append("--initialize")
        first = len(self.nodes)
        started = [NodeProcess(f"node{first + i}", args, self.log_dir) for i in range(count)]
        self.nodes.extend(started)
        for node in started:
            assert node.receive() == {"ready": True}
        return started

    def call_all(self, cmd: str, **fields: Any) -> list[dict[str, Any]]:
        """The same command on every node (sent to all first, then answers collected)."""
        for node in self.nodes:
            assert node.proc.stdin is not None
            node.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
            node.proc.stdin.flush()
        return [node.receive() for node in self.nodes]

    def stop_all(self) -> dict[str, dict[str, int]]:
        """Shut every node down; return the sum of what they recorded."""
        total: dict[str, dict[str, int]] = {"commands": {}, "metrics": {}}
        for reply in self.call_all("stop"):
            for section in ("commands", "metrics"):
                for name, n in reply["tally"][section].items():
                    total[section][name] = total[section].get(name, 0) + n
        for node in self.nodes:
            assert node.proc.wait(timeout=TIMEOUT) == 0, node.stderr()
        return total

    def stderr(self) -> str:
        """Every node's log, labelled."""
        return "\n".join(f"--- {node.name}\n{node.stderr()}" for node in self.nodes)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def acknowledged_totals(bodies: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Sum the counts of full reports (each body once; the receiver dropped duplicates)."""
    total: dict[str, dict[str, int]] = {"commands": {}, "metrics": {}}
    for body in bodies:
        internals = body["product"]["internals"]
        for section in ("commands", "metrics"):
            for name, value in internals.get(section, {}).items():
                if value["count"]:
                    total[section][name] = total[section].get(name, 0) + value["count"]
    return total


@dataclass(frozen=True)
class PostgresServer:
    """The server started by ``scripts/start-postgres.sh``, which tests may stop and start."""

    url: str

    def _run(self, action: str) -> None:
        port = urlsplit(self.url).port or 5432
        env = {**os.environ, "OTEL_CT_PG_PORT": str(port)}
        subprocess.run(
            [str(START_SCRIPT), action], check=True, env=env, timeout=180, capture_output=True
        )

    def stop(self) -> None:
        """Stop the server (fast mode: every client is disconnected at once)."""
        self._run("stop")

    def start(self) -> None:
        """Start it again and wait until it accepts connections."""
        self._run("start")
