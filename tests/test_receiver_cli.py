"""``receive`` as a process: binds 127.0.0.1 by default, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from pathlib import Path

from _receiver_http import golden, post_report

from otel_camunda_telemetry.receiver import add_receive_command, default_db_path


def test_defaults_are_loopback_port_8080_and_a_per_user_db() -> None:
    parser = argparse.ArgumentParser()
    add_receive_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["receive"])
    assert (args.host, args.port, args.max_body_bytes, args.rate_limit) == (
        "127.0.0.1",
        8080,
        65536,
        60,
    )
    assert args.db == str(default_db_path())
    assert default_db_path().name == "receiver.sqlite3"


def test_receive_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_camunda_telemetry.receiver",
            "--port",
            "0",
            "--db",
            str(db),
            "--log-level",
            "DEBUG",
        ],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/pings)", line)
        assert match, line
        assert post_report(match.group(1), golden("engine_full"))[0] == 202
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "accepted" not in out  # logs go to stderr...
    assert "stored engine-full report" in err  # ...at DEBUG...
    assert "127.0.0.1" not in err  # ...and never name the client
    assert db.exists() and Path(f"{db}.secret").exists()
