"""Crash durability over NATS: Python SDK clients keep reporting while the server, or
only its embedded nats-server, is SIGKILLed.

Each SDK client reports with its own idempotency keys; a report the SDK could not
deliver (timeout, lost connection) waits in its offline buffer and is replayed
by the SDK itself once the server is back. After every restart, each report
acknowledged before the kill is stored exactly once; at the end every report
the SDK accepted (acknowledged or buffered) is stored exactly once, none was
refused, and the chain verifies.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from unitledger_sdk import Extension

from http_reporters import all_records, nats_server_pid
from support import ServerProcess
from unitledger.signing import KeyPair

pytestmark = [pytest.mark.slow, pytest.mark.nats]

# 20 kills of the server and 20 of its embedded nats-server, alternating.
CYCLES = 40
CLIENTS = 4


async def wait_ready(server: ServerProcess) -> None:
    """Until the HTTP API answers and NATS is connected again (after a nats-server kill)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with server.client() as c:
            try:
                if c.get("/ready").status_code == 200:
                    return
            except Exception:  # noqa: S110 - still coming back
                pass
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not become ready again")


async def test_sdk_clients_lose_and_double_nothing_when_server_or_nats_is_killed(
    tmp_path: Path, vendor_key: KeyPair
) -> None:
    server = ServerProcess(tmp_path / "data", vendor_key)
    await asyncio.to_thread(server.start)
    server.install_license(capacity_units=10_000_000)
    tokens = [server.token("extension", f"sdk-{i}") for i in range(CLIENTS)]
    acked: dict[str, dict[str, Any]] = {}
    buffered: set[str] = set()
    sent: dict[str, dict[str, float]] = {}
    stop = asyncio.Event()
    rng = random.Random(5)
    kills = {"server": 0, "nats-server": 0}

    async def client(i: int, ext: Extension) -> None:
        n = 0
        while not stop.is_set():
            key = f"sdk-{i}-{n}"
            dims = {"tables_replicated": float(1 + n % 3)}
            sent[key] = dims
            result = await ext.report_usage(dims, idempotency_key=key)
            if result.buffered:
                buffered.add(key)
                await asyncio.sleep(0.02)
            else:
                acked[key] = {"record_id": result.record_id, "units": result.units}
            n += 1

    nats_url = f"nats://127.0.0.1:{server.nats_port}"
    extensions = [
        Extension(f"SDK {i}", f"sdk-{i}", token=tokens[i], servers=nats_url, request_timeout=1.0)
        for i in range(CLIENTS)
    ]
    started = time.monotonic()
    try:
        for ext in extensions:
            await ext.open()
        tasks = [asyncio.create_task(client(i, ext)) for i, ext in enumerate(extensions)]
        for cycle in range(CYCLES):
            await asyncio.sleep(rng.uniform(0.3, 1.0))
            before_kill = dict(acked)
            if cycle % 2 == 0:
                await asyncio.to_thread(server.kill)
                kills["server"] += 1
                await asyncio.to_thread(server.start)
            else:
                os.kill(nats_server_pid(server), signal.SIGKILL)
                kills["nats-server"] += 1
                await asyncio.sleep(0.5)
                await wait_ready(server)
            with server.client() as admin:
                stored = {r["idempotency_key"]: r for r in all_records(admin)}
                for key, answer in before_kill.items():
                    assert key in stored, f"acknowledged report {key} lost (cycle {cycle})"
                    assert stored[key]["record_id"] == answer["record_id"]
                assert admin.get("/ledger/verify").json()["ok"]
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        for ext in extensions:
            await ext.flush(60)
            assert ext.failed == []
        with server.client() as admin:
            records = all_records(admin)
            chain = admin.get("/ledger/verify").json()
    finally:
        stop.set()
        for ext in extensions:
            await ext.close(flush_timeout=1)
        await asyncio.to_thread(server.stop)
    keys = [r["idempotency_key"] for r in records]
    assert len(keys) == len(set(keys)), "a report is stored twice"
    assert set(keys) == set(sent), set(sent) ^ set(keys)
    for record in records:
        assert record["dimensions"] == sent[record["idempotency_key"]]
    assert (
        abs(sum(r["units"] for r in records) - sum(sum(d.values()) for d in sent.values())) < 1e-6
    )
    assert chain["ok"], chain
    assert kills["server"] and kills["nats-server"]
    assert buffered, "no report was ever buffered: the kills proved nothing"
    print(
        f"\ncrash durability over NATS: {kills['server']} server and {kills['nats-server']} "
        f"nats-server SIGKILLs, {len(sent)} reports ({len(acked)} acknowledged at once, "
        f"{len(buffered)} buffered and replayed by the SDK), {time.monotonic() - started:.0f} s"
    )
