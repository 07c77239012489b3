"""Ledger tamper evidence: any usage row changed, deleted, inserted or moved directly in
the database is found by ``unitledger ledger verify``, which names the first bad record.

The ledger is written through the service; then the database is edited behind its
back with plain SQL, as someone with database access would. Verification runs
offline (``--database URL``, a separate process), through the HTTP endpoint the
online CLI mode calls, and once end to end with the CLI against a live server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, delete, insert, select, update

from support import UNITLEDGER, ServerProcess, license_spec
from unitledger.adapters.http.app import create_app
from unitledger.adapters.storage import tables as t
from unitledger.bootstrap import Runtime, build_service
from unitledger.config import Settings
from unitledger.domain import record_hash
from unitledger.issuing import issue_license
from unitledger.service.auth import Principal, Role
from unitledger.signing import KeyPair

ADMIN = Principal("tamper-admin", Role.ADMIN, "tamper-test")
RECORDS = 30
VICTIM = 17
r = t.usage_records.c


@dataclass
class Ledger:
    runtime: Runtime
    url: str
    token: str

    def row(self, conn: Connection, record_id: int) -> dict[str, Any]:
        return dict(
            conn.execute(select(t.usage_records).where(r.record_id == record_id)).mappings().one()
        )


def rehash(row: dict[str, Any]) -> str:
    return record_hash(
        record_id=row["record_id"],
        extension_id=row["extension_id"],
        account=row["account"],
        idempotency_key=row["idempotency_key"],
        occurred_at_us=row["occurred_at_us"],
        received_at_us=row["received_at_us"],
        dimensions=json.loads(row["dimensions"]),
        units_by_dimension=json.loads(row["units_by_dimension"]),
        units=row["units"],
        rates=json.loads(row["rates"]),
        charges=json.loads(row["charges"]),
        prev_hash=row["prev_hash"],
    )


def change_units(ledger: Ledger, conn: Connection) -> None:
    conn.execute(update(t.usage_records).where(r.record_id == VICTIM).values(units=r.units * 0.5))


def change_dimensions(ledger: Ledger, conn: Connection) -> None:
    conn.execute(
        update(t.usage_records)
        .where(r.record_id == VICTIM)
        .values(dimensions='{"tables_replicated":0.0}')
    )


def change_account(ledger: Ledger, conn: Connection) -> None:
    conn.execute(
        update(t.usage_records).where(r.record_id == VICTIM).values(account="someone-else")
    )


def change_and_rehash(ledger: Ledger, conn: Connection) -> None:
    """The forger recomputes the row's own hash; the next record's link still breaks."""
    row = ledger.row(conn, VICTIM)
    row["units"] = 0.0
    conn.execute(
        update(t.usage_records).where(r.record_id == VICTIM).values(units=0.0, hash=rehash(row))
    )


def delete_middle(ledger: Ledger, conn: Connection) -> None:
    conn.execute(delete(t.usage_records).where(r.record_id == VICTIM))


def delete_last(ledger: Ledger, conn: Connection) -> None:
    conn.execute(delete(t.usage_records).where(r.record_id == RECORDS))


def insert_at_end(ledger: Ledger, conn: Connection) -> None:
    """A perfectly chained extra record; only the head, written with every batch, disagrees."""
    row = ledger.row(conn, RECORDS)
    row.update(
        record_id=RECORDS + 1,
        idempotency_key="forged",
        prev_hash=row["hash"],
    )
    row["hash"] = rehash(row)
    conn.execute(insert(t.usage_records).values(**row))


def insert_in_middle(ledger: Ledger, conn: Connection) -> None:
    """Records from VICTIM on move up one place and a forged record takes VICTIM's place."""
    for record_id in range(RECORDS, VICTIM - 1, -1):
        conn.execute(
            update(t.usage_records).where(r.record_id == record_id).values(record_id=record_id + 1)
        )
    row = ledger.row(conn, VICTIM - 1)
    row.update(record_id=VICTIM, idempotency_key="forged", prev_hash=row["hash"])
    row["hash"] = rehash(row)
    conn.execute(insert(t.usage_records).values(**row))


def swap_two(ledger: Ledger, conn: Connection) -> None:
    a, b = ledger.row(conn, VICTIM), ledger.row(conn, VICTIM + 1)
    content = ("extension_id", "account", "dimensions", "units_by_dimension", "units")
    conn.execute(
        update(t.usage_records)
        .where(r.record_id == VICTIM)
        .values(idempotency_key="swap-tmp", **{k: b[k] for k in content})
    )
    conn.execute(
        update(t.usage_records)
        .where(r.record_id == VICTIM + 1)
        .values(**{k: a[k] for k in content})
    )


TAMPERS: dict[str, tuple[Callable[[Ledger, Connection], None], int, str]] = {
    "changed units": (change_units, VICTIM, "changed"),
    "changed dimensions": (change_dimensions, VICTIM, "changed"),
    "changed account": (change_account, VICTIM, "changed"),
    "changed and re-hashed": (change_and_rehash, VICTIM + 1, "does not link"),
    "deleted in the middle": (delete_middle, VICTIM, "missing"),
    "deleted at the end": (delete_last, RECORDS, "onwards is missing"),
    "inserted at the end": (insert_at_end, RECORDS + 1, "added outside the ledger"),
    # A forged record chained onto its predecessor verifies; the break is the record after it.
    "inserted in the middle": (insert_in_middle, VICTIM + 1, "does not link"),
    "two records swapped": (swap_two, VICTIM, "changed"),
}


@pytest.fixture
async def ledger(tmp_path: Path, database_url: str, vendor_key: KeyPair) -> AsyncIterator[Ledger]:
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
        spec = license_spec(service.deployment_id, capacity_units=10_000)
        await service.install_license(json.dumps(issue_license(spec, vendor_key)), ADMIN)
        for n in range(RECORDS):
            await service.report_usage(
                {
                    "extension_id": ("oracle-cdc", "kafka-sink")[n % 2],
                    "account": f"svc-{n % 3}",
                    "dimensions": {"tables_replicated": 1 + n % 4},
                    "idempotency_key": f"t-{n}",
                },
                ADMIN,
            )
        token, _ = service.create_token(Role.ADMIN, "verifier")
        yield Ledger(runtime, database_url, token)
    finally:
        await service.stop()
        runtime.engine.dispose()


async def verify_over_http(ledger: Ledger) -> dict[str, Any]:
    app = create_app(ledger.runtime, manage_service=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ledger.token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as c:
        response = await c.get("/api/v1/ledger/verify")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def verify_offline(url: str) -> tuple[int, dict[str, Any]]:
    import subprocess

    done = subprocess.run(
        [UNITLEDGER, "ledger", "verify", "--database", url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


async def test_an_untouched_ledger_verifies(ledger: Ledger) -> None:
    assert await verify_over_http(ledger) == {
        "ok": True,
        "records": RECORDS,
        "first_bad_record": None,
        "problem": None,
    }
    code, offline = verify_offline(ledger.url)
    assert code == 0
    assert offline["ok"] is True


@pytest.mark.parametrize("tamper", list(TAMPERS))
async def test_a_tampered_usage_row_is_found_and_named(ledger: Ledger, tamper: str) -> None:
    edit, first_bad, problem = TAMPERS[tamper]
    with ledger.runtime.engine.begin() as conn:
        edit(ledger, conn)
    online = await verify_over_http(ledger)
    assert online["ok"] is False
    assert online["first_bad_record"] == first_bad, online
    assert problem in online["problem"], online
    code, offline = verify_offline(ledger.url)
    assert code == 1
    assert offline == online


def test_the_cli_names_the_first_bad_record_against_a_live_server(server: ServerProcess) -> None:
    server.install_license()
    with server.client() as c:
        for n in range(5):
            body = {"extension_id": "oracle-cdc", "dimensions": {"tables_replicated": 1}}
            assert (
                c.post("/usage", json={**body, "idempotency_key": f"live-{n}"}).status_code == 200
            )
    assert server.cli("ledger", "verify").returncode == 0
    from sqlalchemy import create_engine

    assert server.database_url is not None
    engine = create_engine(server.database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(update(t.usage_records).where(r.record_id == 3).values(units=99.0))
    engine.dispose()
    result = server.cli("ledger", "verify")
    assert result.returncode == 1
    assert "ledger broken at record 3" in " ".join(result.stdout.split())
    assert "changed" in result.stdout
