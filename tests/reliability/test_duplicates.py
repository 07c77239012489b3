"""Retries and duplicate deliveries: every report counted exactly once.

Every report is delivered on connection A; about a third are also delivered on
connection B, and a tenth a third time, in a shuffled order, concurrently, so
a duplicate may arrive before, during or after the original — in the same
group-commit batch or a later one. Some keys are also reused with a different
body: exactly one of the two bodies is stored, every delivery of the other is
refused with ``idempotency_conflict``, never merged.

10,000 reports go through the service's batch writer in-process (two
concurrent submitters standing for two connections), and 1,000 over two real
HTTP connection pools to ``unitledger serve``. ``bench/soak.py`` runs the HTTP
variant at 10,000 and more.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from http_reporters import all_records, body_for, units_of
from ledger_checks import check_charging
from support import ServerProcess, license_spec
from unitledger.adapters.storage.queries import RecordFilter
from unitledger.bootstrap import build_service
from unitledger.config import Settings
from unitledger.errors import IdempotencyConflict
from unitledger.issuing import issue_license
from unitledger.service.auth import Principal, Role
from unitledger.signing import KeyPair

pytestmark = pytest.mark.slow

# bench/soak.py runs the HTTP variant with 10,000 reports and more.
HTTP_REPORTS = int(os.environ.get("UNITLEDGER_SOAK_REPORTS", "1000"))
ADMIN = Principal("dup-admin", Role.ADMIN, "duplicates-test")
Delivery = tuple[int, dict[str, Any]]


@dataclass
class Plan:
    bodies: dict[str, dict[str, Any]]
    rivals: dict[str, dict[str, Any]]
    deliveries: list[Delivery]
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    conflicts: list[tuple[dict[str, Any], Mapping[str, Any]]] = field(default_factory=list)


def plan(reports: int, conflicts: int, seed: int) -> Plan:
    rng = random.Random(seed)
    bodies = {
        f"dup-{n}": body_for(f"dup-{n}", n, ("oracle-cdc", "kafka-sink")[n % 2])
        for n in range(reports)
    }
    keys = list(bodies)
    deliveries: list[Delivery] = [(0, body) for body in bodies.values()]
    deliveries += [(1, bodies[k]) for k in keys if rng.random() < 0.33]
    deliveries += [(rng.randrange(2), bodies[k]) for k in keys if rng.random() < 0.1]
    rivals: dict[str, dict[str, Any]] = {}
    for key in rng.sample(keys, conflicts):
        rivals[key] = {**bodies[key], "dimensions": {"tables_replicated": 1000}}
        deliveries.append((1, rivals[key]))
    # Shuffled within windows: duplicates land before and after their original.
    window = 400
    deliveries.sort(key=lambda d: int(d[1]["idempotency_key"].split("-")[1]) // window)
    ordered: list[Delivery] = []
    for start in range(0, len(deliveries), window):
        chunk = deliveries[start : start + window]
        rng.shuffle(chunk)
        ordered += chunk
    return Plan(bodies, rivals, ordered, {k: [] for k in keys})


async def deliver_all(
    p: Plan, send: Callable[[int, dict[str, Any]], Awaitable[Mapping[str, Any]]], parallel: int
) -> None:
    """Each connection sends its share in order, ``parallel`` at a time, both at once."""
    gate = asyncio.Semaphore(parallel)

    async def one(connection: int, body: dict[str, Any]) -> None:
        async with gate:
            answer = await send(connection, body)
        if answer.get("code") == "idempotency_conflict":
            p.conflicts.append((body, answer))
        else:
            p.answers[body["idempotency_key"]].append({**answer, "sent": body})

    await asyncio.gather(*(one(c, body) for c, body in p.deliveries))


def check(p: Plan, records: list[dict[str, Any]], licenses: list[dict[str, Any]]) -> None:
    assert {body["idempotency_key"] for body, _ in p.conflicts} == set(p.rivals)
    for body, problem in p.conflicts:
        assert problem["field"] == "idempotency_key"
        assert body["idempotency_key"] in problem["detail"]
        assert "different report" in problem["detail"]
    assert len(records) == len(p.bodies)
    stored = {r["idempotency_key"]: r for r in records}
    assert set(stored) == set(p.bodies)
    expected_units = 0.0
    for key, got in p.answers.items():
        assert got, f"{key} was never acknowledged"
        assert len({a["record_id"] for a in got}) == 1, got
        assert [a["duplicate"] for a in got].count(False) == 1, got
        winner = got[0]["sent"]
        assert all(a["sent"] == winner for a in got), f"{key}: two bodies acknowledged: {got}"
        if key in p.rivals:
            loser = p.rivals[key] if winner == p.bodies[key] else p.bodies[key]
            refused = [body for body, _ in p.conflicts if body["idempotency_key"] == key]
            assert refused and all(body is loser for body in refused)
        assert stored[key]["record_id"] == got[0]["record_id"]
        assert stored[key]["dimensions"] == winner["dimensions"]
        expected_units += units_of(winner)
    assert abs(sum(r["units"] for r in records) - expected_units) < 1e-6
    check_charging(records, licenses)


async def test_ten_thousand_reports_with_duplicates_and_retries_are_counted_once(
    tmp_path: Path, database_url: str, vendor_key: KeyPair
) -> None:
    p = plan(10_000, 100, seed=11)
    runtime = build_service(
        Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            vendor_public_key=vendor_key.public_pem().decode(),
        )
    )
    service = runtime.service
    await service.start()
    try:
        spec = license_spec(service.deployment_id, capacity_units=10_000_000)
        await service.install_license(json.dumps(issue_license(spec, vendor_key)), ADMIN)

        async def send(connection: int, body: dict[str, Any]) -> Mapping[str, Any]:
            try:
                outcome = await service.report_usage(dict(body), ADMIN)
            except IdempotencyConflict as exc:
                return exc.to_dict()
            return outcome.to_dict()

        started = time.monotonic()
        await deliver_all(p, send, parallel=400)
        elapsed = time.monotonic() - started
        items: list[dict[str, Any]] = []
        cursor: int | None = None
        while True:
            page = service.records(RecordFilter(), cursor, 1000)
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        check(p, items, service.licenses())
        assert service.metric("licensing.checks.total") == len(p.bodies)
        assert service.verify_ledger().ok
    finally:
        await service.stop()
        runtime.engine.dispose()
    print(
        f"\nduplicates in-process ({database_url.split(':')[0]}): {len(p.deliveries)} deliveries "
        f"of {len(p.bodies)} reports ({len(p.conflicts)} refused as conflicts) in "
        f"{elapsed:.1f} s, {service.writer.batches} batches"
    )


def test_duplicates_over_two_http_connections_are_counted_once(server: ServerProcess) -> None:
    server.install_license(capacity_units=10_000_000)
    p = plan(HTTP_REPORTS, 20, seed=12)
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    resends = 0

    async def run() -> None:
        limits = httpx.Limits(max_connections=8)
        base = f"{server.url}/api/v1"
        async with (
            httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as a,
            httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as b,
        ):

            async def send(connection: int, body: dict[str, Any]) -> Mapping[str, Any]:
                nonlocal resends
                while True:
                    response = await (a, b)[connection].post("/usage", json=body)
                    if response.status_code not in (429, 503):
                        break
                    resends += 1
                    await asyncio.sleep(0.05)
                assert response.status_code in (200, 409), response.text
                answer: Mapping[str, Any] = response.json()
                return answer

            await deliver_all(p, send, parallel=16)

    started = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - started
    with server.client() as admin:
        check(p, all_records(admin), admin.get("/licenses").json())
        assert admin.get("/metrics/licensing.checks.total").json()["value"] == len(p.bodies)
    print(
        f"\nduplicates over HTTP: {len(p.deliveries)} deliveries of {len(p.bodies)} reports "
        f"({len(p.conflicts)} refused as conflicts, {resends} resends) in {elapsed:.1f} s"
    )
