"""Outage: NATS unreachable for 30 s while SDK clients keep reporting.

The embedded nats-server is frozen with SIGSTOP (connections stay open but
nothing answers, as in a network partition), then thawed with SIGCONT. Reports
made meanwhile wait in each SDK's offline buffer, are replayed in the order they
were made once NATS answers again, and are counted exactly once. A client with
a small buffer gets ``BufferFull`` (a clear, typed error) past its bound instead
of growing memory, and shows its backlog as ``buffered`` and a WARNING heartbeat.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from unitledger_sdk import BufferFull, Extension

from http_reporters import all_records, nats_server_pid
from support import ServerProcess
from unitledger.signing import KeyPair

pytestmark = [pytest.mark.slow, pytest.mark.nats]

OUTAGE_SECONDS = 30.0
SMALL_BUFFER = 50


async def test_reports_made_while_nats_is_unreachable_are_replayed_in_order_once(
    tmp_path: Path, vendor_key: KeyPair
) -> None:
    server = ServerProcess(tmp_path / "data", vendor_key)
    await asyncio.to_thread(server.start)
    server.install_license(capacity_units=10_000_000)
    url = f"nats://127.0.0.1:{server.nats_port}"
    names = ["steady-a", "steady-b", "small-buffer"]
    tokens = {name: server.token("extension", name) for name in names}
    made: dict[str, list[str]] = {name: [] for name in names}
    refused: list[BufferFull] = []
    exts = {
        name: Extension(
            name,
            name,
            token=tokens[name],
            servers=url,
            request_timeout=1.0,
            buffer_size=SMALL_BUFFER if name == "small-buffer" else 10_000,
        )
        for name in names
    }
    nats_pid = 0
    try:
        for ext in exts.values():
            await ext.open()
            await ext.report_usage(
                {"tables_replicated": 1}, idempotency_key=f"{ext.extension_id}-before"
            )
            made[ext.extension_id].append(f"{ext.extension_id}-before")

        nats_pid = nats_server_pid(server)
        os.kill(nats_pid, signal.SIGSTOP)
        outage_started = time.monotonic()

        async def keep_reporting(ext: Extension) -> None:
            n = 0
            while time.monotonic() - outage_started < OUTAGE_SECONDS:
                key = f"{ext.extension_id}-{n:05d}"
                try:
                    result = await ext.report_usage({"tables_replicated": 1}, idempotency_key=key)
                except BufferFull as full:
                    refused.append(full)
                else:
                    assert result.buffered, "answered while NATS was frozen?"
                    made[ext.extension_id].append(key)
                n += 1
                await asyncio.sleep(0.1)

        await asyncio.gather(*(keep_reporting(ext) for ext in exts.values()))
        small = exts["small-buffer"]
        backlog = {name: ext.buffered for name, ext in exts.items()}
        assert backlog["small-buffer"] == SMALL_BUFFER
        assert small.status == "WARNING"
        assert refused, "the small buffer never filled"
        assert "offline buffer holds 50 reports" in refused[0].detail
        assert refused[0].code == "buffer_full"

        os.kill(nats_pid, signal.SIGCONT)
        nats_pid = 0
        thawed = time.monotonic()
        for ext in exts.values():
            await ext.flush(90)
            assert ext.failed == []
        replay_seconds = time.monotonic() - thawed
        with server.client() as admin:
            records = all_records(admin)
            assert admin.get("/ledger/verify").json()["ok"]
    finally:
        if nats_pid:
            os.kill(nats_pid, signal.SIGCONT)
        for ext in exts.values():
            await ext.close(flush_timeout=1)
        await asyncio.to_thread(server.stop)

    for name in names:
        mine = sorted(
            (r for r in records if r["extension_id"] == name), key=lambda r: r["record_id"]
        )
        # Stored once each, nothing else, and in the order they were made.
        assert [r["idempotency_key"] for r in mine] == made[name], name
    assert len(made["small-buffer"]) == 1 + SMALL_BUFFER
    print(
        f"\noutage: NATS frozen {OUTAGE_SECONDS:.0f} s; buffered {backlog}, "
        f"{len(refused)} refused with BufferFull past {SMALL_BUFFER}; replayed in order in "
        f"{replay_seconds:.1f} s"
    )
