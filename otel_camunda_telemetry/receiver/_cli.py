"""``otel-camunda-telemetry receive``: run the receiver from the command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ._flagging import FlagPolicy
from ._ratelimit import RateLimit
from ._server import ReceiverServer

__all__ = ["add_receive_command", "default_db_path", "run_receive"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def default_db_path() -> Path:
    """``receiver.sqlite3`` in the per-user data directory.

    ``$XDG_DATA_HOME/otel-camunda-telemetry`` (default ``~/.local/share/...``) on Linux,
    ``~/Library/Application Support/otel-camunda-telemetry`` on macOS and
    ``%LOCALAPPDATA%\\otel-camunda-telemetry`` on Windows.
    """
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "otel-camunda-telemetry" / "receiver.sqlite3"


def add_receive_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``receive`` subcommand to an ``argparse`` subparsers object.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> parser = add_receive_command(parser.add_subparsers(dest="command"))
        >>> parser.parse_args([]).port
        8080
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "receive",
        help="run the telemetry receiver (HTTP service storing reports, with a dashboard)",
        description="Accept reports on POST /pings, store them in SQLite and show a "
        "dashboard on GET /. Needs the [receiver] extra.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 picks one)")
    parser.add_argument(
        "--db",
        default=str(default_db_path()),
        help="SQLite file of reports, or a postgresql:// URL (the [postgres] extra)",
    )
    parser.add_argument(
        "--secret-file",
        default=None,
        help="key file for hashing client IPs (default: <db>.secret; with postgresql://, "
        "a key kept in the database and shared by every receiver)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=64 * 1024,
        help="larger report bodies are refused with 413",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=60,
        help="requests per minute per client IP (0: unlimited)",
    )
    parser.add_argument(
        "--flag-max-reports",
        type=int,
        default=FlagPolicy.max_reports,
        help="periodic reports per installation per window before flagging",
    )
    parser.add_argument(
        "--flag-window",
        type=float,
        default=FlagPolicy.window_seconds,
        help="flagging window in seconds",
    )
    parser.add_argument(
        "--forwarded-hops",
        type=int,
        default=0,
        help="trusted reverse proxies in front (client IP from X-Forwarded-For)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity",
    )
    parser.set_defaults(handler=run_receive)
    return parser


def run_receive(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM) or ``stop`` is set; return the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("otel_camunda_telemetry").setLevel(args.log_level)
    rate = RateLimit(requests=args.rate_limit, per_seconds=60.0) if args.rate_limit > 0 else None
    stop = stop or threading.Event()
    server = ReceiverServer(
        args.host,
        args.port,
        db=args.db,
        secret_file=args.secret_file,
        max_body_bytes=args.max_body_bytes,
        rate_limit=rate,
        flag_policy=FlagPolicy(max_reports=args.flag_max_reports, window_seconds=args.flag_window),
        forwarded_hops=args.forwarded_hops,
    )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    print(
        f"receiving reports on {server.url} (dashboard {server.base_url}/), db {server.store!r}",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_until(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``receive`` on its own (``python -m otel_camunda_telemetry.receiver``)."""
    parser = argparse.ArgumentParser(prog="python -m otel_camunda_telemetry.receiver")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_receive_command(subparsers)
    args = parser.parse_args(["receive", *(sys.argv[1:] if argv is None else argv)])
    return run_receive(args)
