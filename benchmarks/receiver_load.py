"""Load benchmark of the telemetry receiver over loopback.

Several sender processes (each with a few threads) post full engine reports to a receiver
in this process for a bounded time; some reports are sent twice with the same
Idempotency-Key, as a retrying exporter would. Afterwards every acknowledged report must be
stored exactly once.

Usage:
    python benchmarks/receiver_load.py --seconds 10 --processes 4 --threads 4 [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import ThreadPoolExecutor as Threads
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_camunda_telemetry.receiver import ReceiverServer  # noqa: E402

RETRY_SHARE = 0.05  # share of reports re-sent with the same key


def _post(port: int, body: bytes, key: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/pings",
            body,
            {"Content-Type": "application/json", "Idempotency-Key": key},
        )
        response = conn.getresponse()
        status = json.loads(response.read()).get("status", "") if response.status == 202 else ""
        return response.status, status, time.perf_counter() - started
    finally:
        conn.close()


def _thread(port: int, deadline: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    template = json.loads((ROOT / "tests" / "golden" / "engine_full.json").read_text())
    acked: list[str] = []
    latencies: list[float] = []
    duplicates = errors = 0
    while time.time() < deadline:
        template["installation"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = json.dumps(template).encode()
        key = str(uuid.uuid4())
        for _attempt in range(2 if rng.random() < RETRY_SHARE else 1):
            try:
                code, status, latency = _post(port, body, key)
            except OSError:
                errors += 1
                continue
            latencies.append(latency)
            if code != 202:
                errors += 1
            elif status == "duplicate":
                duplicates += 1
            else:
                acked.append(key)
    return {"acked": acked, "latencies": latencies, "duplicates": duplicates, "errors": errors}


def _process(port: int, deadline: float, threads: int, seed: int) -> dict[str, Any]:
    with Threads(max_workers=threads) as pool:
        parts = list(pool.map(lambda i: _thread(port, deadline, seed * 1000 + i), range(threads)))
    return {
        "acked": [k for p in parts for k in p["acked"]],
        "latencies": [x for p in parts for x in p["latencies"]],
        "duplicates": sum(p["duplicates"] for p in parts),
        "errors": sum(p["errors"] for p in parts),
    }


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(seconds: float, processes: int, threads: int, db: Path) -> dict[str, Any]:
    """Run the load for ``seconds`` and return the figures (no assertion inside)."""
    with ReceiverServer(db=db, rate_limit=None) as server:
        deadline = time.time() + seconds
        started = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            futures = [
                pool.submit(_process, server.port, deadline, threads, i) for i in range(processes)
            ]
            results = [f.result() for f in futures]
        elapsed = time.perf_counter() - started
    with closing(sqlite3.connect(db)) as conn:
        rows = dict(
            conn.execute(
                "SELECT idempotency_key, COUNT(*) FROM reports GROUP BY idempotency_key"
            ).fetchall()
        )
    acked = [k for r in results for k in r["acked"]]
    latencies = [x for r in results for x in r["latencies"]]
    return {
        "seconds": round(elapsed, 2),
        "processes": processes,
        "threads_per_process": threads,
        "requests": len(latencies),
        "acknowledged_reports": len(acked),
        "acknowledged_duplicates": sum(r["duplicates"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "stored_rows": sum(rows.values()),
        "lost": sum(1 for k in acked if k not in rows),
        "stored_more_than_once": sum(1 for n in rows.values() if n > 1),
        "unacknowledged_but_stored": len(set(rows) - set(acked)),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }


def main() -> int:
    """Parse arguments, run, print a table, optionally write JSON; exit 1 on loss."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="sender threads per process")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(args.seconds, args.processes, args.threads, Path(tmp) / "load.sqlite3")
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = figures["lost"] == 0 and figures["stored_more_than_once"] == 0
    ok = ok and figures["stored_rows"] == figures["acknowledged_reports"]
    print("every acknowledged report stored exactly once:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
