"""``otel-camunda-telemetry``: consent, inspection and sending from the command line.

Every command acts on the same state store as the running application (``--state`` or
``CAMUNDA_TELEMETRY_STATE``). Exit codes: 0 success; 1 the command ran but did not achieve
its goal (a report not delivered, telemetry disabled for ``send``, a failed demo);
2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._config import Settings
from ._control import TelemetryControl
from ._state import open_store
from ._version import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


def _control(args: argparse.Namespace) -> TelemetryControl:
    settings = Settings.resolve(endpoint=args.endpoint, state=args.state, profile=args.profile)
    # A state named on the command line is used or refused, never swapped for the fallback
    # location: a typo must not enable telemetry for some other installation.
    store = open_store(settings.state, fallback=args.state is None)
    return TelemetryControl(settings=settings, store=store, owns_store=True)


def cmd_status(args: argparse.Namespace) -> int:
    control = _control(args)
    try:
        status = control.status()
    finally:
        control.close()
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
        return EXIT_OK
    consent = {None: "not decided (off)", True: "enabled", False: "disabled"}[status.enabled]
    rows = [
        ("installation", status.installation_id),
        ("telemetry", consent),
        ("initial report sent", "yes" if status.initial_report_sent else "no"),
        ("last report acknowledged", _when(status.last_report_at)),
        ("next report due", _when(status.next_report_due)),
        ("reports waiting", str(status.reports_waiting)),
        ("license key", "set" if status.license_key_set else "not set"),
        ("profile", status.profile),
        ("endpoint", status.endpoint or "not set"),
        ("state", status.state),
    ]
    for label, value in rows:
        print(f"{label + ':':26} {value}")
    return EXIT_OK


def _toggle(enabled: bool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        control = _control(args)
        try:
            status = control.toggle(enabled)
        finally:
            control.close()
        print(
            f"telemetry {'enabled' if status.enabled else 'disabled'} for {status.installation_id}"
        )
        return EXIT_OK

    return run


def cmd_show(args: argparse.Namespace) -> int:
    control = _control(args)
    try:
        print(control.preview_json())
    finally:
        control.close()
    return EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    control = _control(args)
    try:
        summary = control.send_now(timeout=args.timeout)
    finally:
        control.close()
    print(f"{summary.reason}: {summary.sent} delivered, {summary.waiting} waiting")
    return EXIT_OK if summary.waiting == 0 and summary.reason == "sent" else EXIT_FAILED


def cmd_license(args: argparse.Namespace) -> int:
    control = _control(args)
    try:
        if args.action == "set":
            control.set_license_key(args.key, structured=args.structured)
            print("license key set (signature removed)")
        else:
            control.remove_license_key()
            print("license key removed")
    finally:
        control.close()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo  # pulls in the receiver: only when asked for

    return run_demo(seconds=args.seconds, period=args.period, state=args.state)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every subcommand has ``--help``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state",
        help="state store: SQLite path or database URL "
        "(default: CAMUNDA_TELEMETRY_STATE, else the per-user data directory)",
    )
    common.add_argument("--endpoint", help="report URL (default: CAMUNDA_TELEMETRY_ENDPOINT)")
    common.add_argument(
        "--profile",
        choices=["engine", "optimize"],
        help="report profile (default: CAMUNDA_TELEMETRY_PROFILE, else engine)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG to stderr")

    parser = argparse.ArgumentParser(
        prog="otel-camunda-telemetry",
        description="Camunda-style opt-in telemetry: inspect and control an installation.",
        epilog="Exit codes: 0 success, 1 not achieved (e.g. report not delivered), 2 usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(
        name: str, run: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=text, description=text
        )
        p.set_defaults(run=run)
        return p

    add("status", cmd_status, "show consent, schedule and waiting reports").add_argument(
        "--json", action="store_true", help="print the status as JSON"
    )
    add("enable", _toggle(True), "opt in: send a full report every period")
    add("disable", _toggle(False), "opt out: forget unsent counts, send no full report")
    add("show", cmd_show, "print the report that would be sent now (nothing is reset)")
    add("send", cmd_send, "send what is owed now (waits for the receiver)").add_argument(
        "--timeout", type=float, default=None, help="seconds to wait at most"
    )
    lic = add("license", cmd_license, "set or remove the license key")
    lic_sub = lic.add_subparsers(dest="action", metavar="ACTION")
    lic_sub.required = True
    lic_set = lic_sub.add_parser("set", help="set the key (its signature is stripped)")
    lic_set.add_argument("key", help="the raw license key")
    lic_set.add_argument(
        "--structured",
        action="store_true",
        help="also send customer, expiry and features parsed from it",
    )
    lic_sub.add_parser("remove", help="remove the key from the next report")
    demo = add("demo", cmd_demo, "run a simulated engine against an embedded local receiver")
    demo.add_argument("--seconds", type=float, default=12.0, help="how long the engine runs")
    demo.add_argument(
        "--period", type=float, default=4.0, help="reporting period in seconds (24 h compressed)"
    )
    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[Any], Any]]:
    """Subcommands of optional parts; without their extra they explain how to get it."""
    commands: list[Callable[[Any], Any]] = []
    try:
        from .receiver._cli import add_receive_command

        commands.append(add_receive_command)
    except ImportError as exc:
        commands.append(_missing_extra("receive", "receiver", exc))
    from .admin._cli import add_admin_command

    commands.append(add_admin_command)
    return commands


def _missing_extra(name: str, extra: str, error: ImportError) -> Callable[[Any], Any]:
    def register(sub: Any) -> None:
        def run(_args: argparse.Namespace) -> int:
            print(
                f"'{name}' needs the [{extra}] extra: pip install "
                f"'otel-camunda-telemetry[{extra}]' ({error})",
                file=sys.stderr,
            )
            return EXIT_FAILED

        sub.add_parser(name, help=f"(needs the [{extra}] extra)").set_defaults(run=run)

    return register


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logging.getLogger("otel_camunda_telemetry").addHandler(handler)
        logging.getLogger("otel_camunda_telemetry").setLevel(logging.DEBUG)
    elif not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Optional parts register their own handler under the name "handler".
    run = getattr(args, "run", None) or args.handler
    try:
        result: int = run(args)
    except Exception as exc:  # e.g. an unusable --state: say what, exit 1, no traceback
        print(
            f"otel-camunda-telemetry {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return EXIT_FAILED
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
