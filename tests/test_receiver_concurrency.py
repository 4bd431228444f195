"""Concurrent senders (threads, processes, two servers on one file): nothing lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _receiver_http import golden, post_report

from otel_camunda_telemetry.receiver import ReceiverServer

_SENDER = textwrap.dedent(
    """
    import http.client, json, sys, uuid
    port, count, body = int(sys.argv[1]), int(sys.argv[2]), sys.stdin.buffer.read()
    acked = []
    for _ in range(count):
        key = str(uuid.uuid4())
        for _attempt in range(2):  # the second attempt is a retry with the same key
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("POST", "/pings", body, {"Content-Type": "application/json",
                             "Idempotency-Key": key})
                response = conn.getresponse()
                response.read()
            finally:
                conn.close()
            if response.status == 202:
                acked.append(key)
    print(json.dumps(acked))
    """
)


def _installation_report() -> dict[str, object]:
    report = golden("engine_full")
    report["installation"] = str(uuid.uuid4())
    return report


def test_threads_sending_at_once_lose_nothing(tmp_path: Path) -> None:
    with ReceiverServer(db=tmp_path / "r.sqlite3", rate_limit=None) as server:

        def send(_index: int) -> str:
            key = str(uuid.uuid4())
            status, _, answer = post_report(server.url, _installation_report(), key=key)
            assert (status, answer) == (202, {"status": "accepted"})
            return key

        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = list(pool.map(send, range(120)))
        stored = Counter(r.idempotency_key for r in server.store.reports())
    assert stored == Counter(keys) and len(stored) == 120


def test_processes_with_retries_against_two_servers_on_one_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    body = json.dumps(golden("engine_full")).encode()
    with (
        ReceiverServer(db=db, rate_limit=None) as first,
        ReceiverServer(db=db, rate_limit=None) as second,
    ):
        senders = [
            subprocess.Popen(
                [sys.executable, "-c", _SENDER, str(server.port), "25"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for server in (first, second, first, second)
        ]
        acked: list[str] = []
        for sender in senders:
            out, err = sender.communicate(body, timeout=300)
            assert sender.returncode == 0, err.decode()
            acked += json.loads(out)
        stored = Counter(r.idempotency_key for r in first.store.reports())
    # Every attempt was acknowledged (first "accepted", the retry "duplicate")...
    assert len(acked) == 4 * 25 * 2
    # ...and every report is stored exactly once although two writers shared the file.
    assert stored == Counter(set(acked))
