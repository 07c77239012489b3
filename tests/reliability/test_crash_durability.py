"""Crash durability: SIGKILL the server under concurrent reporters, 20 times.

Reporters behave like SDK clients (retry with the same idempotency key until
acknowledged); one of them sometimes gives up on a report after a failed send,
as a client that crashed itself would. After every restart each report
acknowledged before the kill is stored exactly once with the answer it got,
and the hash chain verifies. At the end the totals equal the sum of the stored
reports, every acknowledged report is among them, and an abandoned report is
stored at most once; ``unitledger ledger verify`` passes over HTTP and offline.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import pytest

from http_reporters import Ledgerbook, Reporter, all_records, check_exactly_once, units_of
from ledger_checks import check_charging
from support import ServerProcess
from unitledger.signing import KeyPair

# Twenty restarts of a real server: several minutes on a busy 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# bench/soak.py runs the same test with more cycles.
CYCLES = int(os.environ.get("UNITLEDGER_SOAK_CYCLES", "20"))
REPORTERS = 6


def test_acknowledged_reports_survive_sigkill_exactly_once(
    tmp_path: Path, vendor_key: KeyPair, database_url: str
) -> None:
    server = ServerProcess(tmp_path / "data", vendor_key, database_url=database_url)
    server.start()
    server.install_license(capacity_units=10_000_000)
    book = Ledgerbook()
    stop = threading.Event()
    rng = random.Random(7)
    reporters = [
        Reporter(
            f"r{i}",
            lambda: server.url,
            server.admin_token,
            book,
            stop,
            extension_id=("oracle-cdc", "kafka-sink")[i % 2],
            abandon=0.5 if i == 0 else 0.0,
        )
        for i in range(REPORTERS)
    ]
    started = time.monotonic()
    per_cycle: list[int] = []
    try:
        for reporter in reporters:
            reporter.start()
        for _ in range(CYCLES):
            before = len(book.acked)
            time.sleep(rng.uniform(0.2, 0.8))
            server.kill()
            acked_before_kill = book.snapshot()
            per_cycle.append(len(acked_before_kill) - before)
            server.start()
            with server.client() as admin:
                records = all_records(admin)
                with book.lock:
                    bodies = dict(book.bodies)
                check_exactly_once(records, acked_before_kill, bodies)
                chain = admin.get("/ledger/verify").json()
                assert chain["ok"], chain
        time.sleep(0.5)
        stop.set()
        for reporter in reporters:
            reporter.join(60)
            assert not reporter.is_alive()
            assert reporter.errors == []
        with server.client() as admin:
            records = all_records(admin)
            stored = check_exactly_once(records, book.acked, book.bodies)
            licenses = admin.get("/licenses").json()
            summary = admin.get("/usage/summary").json()
        assert set(stored) - set(book.acked) <= set(book.abandoned)
        total = sum(units_of(book.bodies[key]) for key in stored)
        assert abs(sum(r["units"] for r in records) - total) < 1e-6
        assert abs(summary["used_units"] - total) < 1e-6
        check_charging(records, licenses)
        online = server.cli("ledger", "verify", "--json", check=True)
        assert json.loads(online.stdout)["records"] == len(records)
        offline_url = database_url
        offline = server.cli("ledger", "verify", "--database", offline_url, "--json", check=True)
        assert json.loads(offline.stdout) == {
            "ok": True,
            "records": len(records),
            "first_bad_record": None,
            "problem": None,
        }
    finally:
        stop.set()
        server.stop()
    elapsed = time.monotonic() - started
    # Every cycle must have had reports in flight when it was killed, or it proved nothing.
    assert sum(1 for n in per_cycle if n > 0) >= CYCLES - 2, per_cycle
    print(
        f"\ncrash durability ({database_url.split(':')[0]}): {CYCLES} SIGKILLs, "
        f"{len(book.acked)} acknowledged, {len(book.abandoned)} abandoned "
        f"({len(set(stored) & set(book.abandoned))} of those stored), {book.resends} resends, "
        f"{elapsed:.0f} s"
    )
