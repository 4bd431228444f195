"""``otel-camunda-telemetry admin`` as a process: serves the page for a state, asks for the
password it printed, stops cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from otel_camunda_telemetry import TelemetryControl
from tests._admin_support import TIMEOUT, basic, call

ROOT = Path(__file__).resolve().parent.parent

# The command as registered on a parser (the package CLI calls add_admin_command the same way).
DRIVER = textwrap.dedent("""
    import argparse, sys
    from otel_camunda_telemetry.admin import add_admin_command
    parser = argparse.ArgumentParser(prog="otel-camunda-telemetry")
    add_admin_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(sys.argv[1:])
    sys.exit(args.run(args))
""")


def _start(state: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", DRIVER, "admin", "--state", state, "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline().strip()]
    if "TELEMETRY_ADMIN_PASSWORD" not in env:
        lines.append(process.stdout.readline().strip())
    return process, lines


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, err


def test_admin_command_serves_with_a_printed_password(tmp_path: Path) -> None:
    state = str(tmp_path / "state.sqlite3")
    env = {k: v for k, v in os.environ.items() if k != "TELEMETRY_ADMIN_PASSWORD"}
    process, lines = _start(state, env)
    try:
        assert lines[0].startswith("telemetry admin on http://127.0.0.1:"), lines
        url = lines[0].split(" on ")[1].split(" ")[0]
        password = lines[1].split()[1]
        assert call(url + "telemetry/configuration")[0] == 401
        credentials = basic(("admin", password))
        assert call(url, headers=credentials)[0] == 200
        enable = call(
            url + "telemetry/configuration", "POST", {"enableTelemetry": True}, credentials
        )
        assert enable[0] == 204
    finally:
        code, err = _stop(process)
    assert code == 0, err
    control = TelemetryControl(state=state)
    try:
        assert control.is_enabled()
    finally:
        control.close()


def test_admin_command_password_from_environment(tmp_path: Path) -> None:
    env = {**os.environ, "TELEMETRY_ADMIN_PASSWORD": "from-env"}
    process, lines = _start(str(tmp_path / "state.sqlite3"), env)
    try:
        url = lines[0].split(" on ")[1].split(" ")[0]
        status, _, body = call(url + "telemetry/status", headers=basic(("admin", "from-env")))
        assert status == 200 and body["user"] == {"name": "admin", "canChange": True}
        assert json.dumps(body)  # plain JSON
    finally:
        code, err = _stop(process)
    assert code == 0, err
