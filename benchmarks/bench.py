"""What telemetry costs the application, measured side by side in one run.

    python benchmarks/bench.py                    # the full run (about 1-2 minutes)
    python benchmarks/bench.py --quick            # fewer repeats, a rougher picture
    python benchmarks/bench.py --json out.json    # also write the figures as JSON

Hot-path cases are nanoseconds per operation (with threads: of wall time, all threads'
operations together); collection cases are nanoseconds per collection; process cases are
nanoseconds of wall time. Every figure is the median of several repeats, and the targets
are ratios within the same run, so that a loaded machine skews both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

# Measure the checkout this script lives in, whether or not the package is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _micro
import _pipeline
import _process

Cases = dict[str, float]


@dataclass(frozen=True)
class Target:
    """A promise checked as a ratio of two figures of the same run."""

    name: str
    ratio: Callable[[Cases], float]
    limit: float
    at_least: bool  # True: the ratio must be >= limit; False: <= limit
    explain: str


TARGETS = [
    Target(
        "fast_counter_inc no slower than prometheus_child_inc",
        lambda c: c["fast_counter_inc"] / c["prometheus_child_inc"],
        1.0,
        False,
        "fast / prometheus",
    ),
    Target(
        "fast_counter_inc at least 20x faster than otel_counter_add",
        lambda c: c["otel_counter_add"] / c["fast_counter_inc"],
        20.0,
        True,
        "otel / fast",
    ),
    Target(
        "fast_counter_inc with 4 threads within 1.5x of 1 thread",
        lambda c: c["fast_counter_inc_4threads"] / c["fast_counter_inc"],
        1.5,
        False,
        "4 threads / 1 thread",
    ),
    Target(
        "export + report build at 10,000 commands within 2x of the SDK's bare collect()",
        lambda c: (c["export_10000"] + c["report_build_10000"]) / c["collect_sdk_10000"],
        2.0,
        False,
        "(export + build) / collect",
    ),
    Target(
        "import otel_camunda_telemetry adds under 30 ms to the SDK's import",
        lambda c: c["import_package_over_sdk"] / 1e6,
        30.0,
        False,
        "milliseconds",
    ),
    Target(
        "exit with a hanging endpoint within CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT",
        # The atexit shutdown (the SDK's final collection and export, then the exporter's
        # shutdown) against the configured budget, with 50 ms of slack for joining threads
        # and scheduling on a loaded machine.
        lambda c: c["shutdown_hanging_endpoint"] / (c["shutdown_timeout"] + 50e6),
        1.0,
        False,
        "atexit shutdown / (timeout + 50 ms)",
    ),
]


def _fmt(name: str, ns: float) -> str:
    if name.startswith(("collect", "export", "report", "import", "exit", "shutdown")):
        return f"{ns / 1e6:10.2f} ms"
    return f"{ns:10.0f} ns"


def _section(title: str, cases: Cases) -> list[str]:
    lines = [f"\n{title}", "-" * len(title)]
    lines += [f"{name:38s} {_fmt(name, ns)}" for name, ns in cases.items()]
    return lines


def check(cases: Cases) -> list[dict[str, object]]:
    """Every target whose figures were measured in this run, with PASS or MISS."""
    results = []
    for t in TARGETS:
        try:
            ratio = t.ratio(cases)
        except KeyError:
            continue
        ok = ratio >= t.limit if t.at_least else ratio <= t.limit
        results.append(
            {
                "target": t.name,
                "ratio": round(ratio, 3),
                "limit": t.limit,
                "measure": t.explain,
                "at_least": t.at_least,
                "pass": ok,
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter loops")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON to PATH")
    parser.add_argument(
        "--only",
        choices=["micro", "collection", "process"],
        action="append",
        help="run only these groups (repeatable)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=int,
        default=1000,
        metavar="MS",
        help="CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT for the exit-delay case (default 1000)",
    )
    args = parser.parse_args(argv)
    groups = set(args.only or ["micro", "collection", "process"])
    repeats = 3 if args.quick else 11
    budget_ns = 20_000_000 if args.quick else 100_000_000

    started = time.monotonic()
    sections: list[tuple[str, Cases]] = []
    if "micro" in groups:
        sections.append(("Hot path: one increment", _micro.run(repeats, budget_ns)))
    if "collection" in groups:
        sections.append(("Collection: per collection", _pipeline.run(repeats)))
    if "process" in groups:
        proc = _process.import_cost(7 if args.quick else 21)
        proc.update(_process.exit_delay(1 if args.quick else 3, args.shutdown_timeout))
        sections.append(("Process: import and exit", proc))
    cases: Cases = {}
    for _, part in sections:
        cases.update(part)

    machine = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "opentelemetry-sdk": version("opentelemetry-sdk"),
        "prometheus-client": version("prometheus-client"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    lines = ["  ".join(f"{k}={v}" for k, v in machine.items())]
    for title, part in sections:
        lines += _section(title, part)
    targets = check(cases)
    lines += ["\nTargets (ratios within this run)", "-" * 32]
    for r in targets:
        verdict = "PASS" if r["pass"] else "MISS"
        op = ">=" if r["at_least"] else "<="
        lines.append(
            f"{verdict}  {r['ratio']:8.2f} {op} {r['limit']:<5} {r['target']}  [{r['measure']}]"
        )
    if "process" in groups:
        package_us, outside = _process.import_breakdown()
        heavy = ", ".join(f"{m} {us / 1000:.1f} ms" for m, us in outside)
        lines.append(
            f"\n-X importtime after the SDK: otel_camunda_telemetry {package_us / 1000:.1f} ms;"
            f" heaviest modules from outside the package: {heavy}"
        )
    lines.append(
        f"\n(whole run: {time.monotonic() - started:.0f} s{', --quick' if args.quick else ''})"
    )
    print("\n".join(lines))

    if args.json:
        payload = {
            "cases": {name: {"ns_per_op": round(ns, 1)} for name, ns in cases.items()},
            "targets": targets,
            "machine": machine,
            "quick": args.quick,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
