"""Ingest over HTTP: concurrent reporters against a real server, bounded in time.

Prints durable reports/s and p50/p99 latency, and in the same run the rate of raw
batched SQLite inserts of the same number of rows (same durability settings), so
the ratio is comparable across noisy machines.

    .venv/bin/python bench/ingest_http.py --seconds 10 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import ServerProcess
from unitledger.signing import KeyPair


async def reporter(
    client: aiohttp.ClientSession, worker: int, deadline: float, latencies: list[float]
) -> int:
    sent = 0
    while time.perf_counter() < deadline:
        body = {
            "extension_id": f"bench-{worker % 8}",
            "account": f"svc-{worker}@bench",
            "dimensions": {"tables_replicated": 1, "bytes_transferred_gb": 0.25},
            "idempotency_key": uuid.uuid4().hex,
        }
        start = time.perf_counter()
        async with client.post("/api/v1/usage", json=body) as response:
            text = await response.text()
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"report failed: {response.status} {text}")
        sent += 1
    return sent


async def drive(
    server: ServerProcess, seconds: float, concurrency: int
) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    # aiohttp, not httpx: httpx's async pool becomes the bottleneck at this concurrency.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(server.url, headers=headers, connector=connector) as client:
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(reporter(client, w, start + seconds, latencies) for w in range(concurrency))
        )
        elapsed = time.perf_counter() - start
    return sum(counts), elapsed, latencies


def raw_sqlite_baseline(rows: int, batch: int = 1000) -> float:
    """Rows/s for plain batched inserts with the same WAL + synchronous=FULL settings."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE r (id INTEGER PRIMARY KEY, ext TEXT, account TEXT, k TEXT UNIQUE, dims TEXT, units REAL)"
        )
        payload = json.dumps({"tables_replicated": 1, "bytes_transferred_gb": 0.25})
        start = time.perf_counter()
        for offset in range(0, rows, batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO r (ext, account, k, dims, units) VALUES (?, ?, ?, ?, ?)",
                [
                    ("bench", "svc", uuid.uuid4().hex, payload, 1.125)
                    for _ in range(min(batch, rows - offset))
                ],
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    return rows / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="how long reporters run (bounded)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent HTTP reporters")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "data", KeyPair.generate(), extra_env={"UNITLEDGER_LOG_LEVEL": "error"}
        )
        server.start()
        try:
            server.install_license(
                capacity_units=1e12,
                rates={"*": {"tables_replicated": 1, "bytes_transferred_gb": 0.5}},
            )
            count, elapsed, latencies = asyncio.run(drive(server, args.seconds, args.concurrency))
            with server.client() as c:
                stored = len(c.get("/usage/records", params={"limit": 1}).json()["items"])
                verify = c.get("/ledger/verify").json()
        finally:
            server.stop()
    rate = count / elapsed
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    baseline = raw_sqlite_baseline(max(count, 1000))
    print(
        f"http ingest:   {count} durable reports in {elapsed:.1f}s = {rate:,.0f} reports/s "
        f"(concurrency {args.concurrency})"
    )
    print(f"ack latency:   p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"raw sqlite:    {baseline:,.0f} rows/s (batched inserts, WAL, synchronous=FULL)")
    print(f"ratio:         {rate / baseline:.3f} of raw batched inserts")
    print(
        f"ledger verify: {'ok' if verify['ok'] else 'BROKEN'} ({verify['records']} records, {stored} readable)"
    )


if __name__ == "__main__":
    main()
