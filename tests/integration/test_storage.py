"""The storage adapter and the ingest use case on a real database (SQLite and PostgreSQL).

Every test runs once per database of the ``database_url`` fixture, so the same
statements (upserts, row locks, identity columns) are proven on both.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, update

from ledger_checks import check_charging
from support import license_spec, stamp
from unitledger.adapters.storage import tables as t
from unitledger.adapters.storage.engine import make_engine
from unitledger.adapters.storage.migrate import upgrade
from unitledger.adapters.storage.queries import RecordFilter
from unitledger.adapters.storage.unit_of_work import SqlUnitOfWork
from unitledger.bootstrap import Runtime, build_service
from unitledger.config import Settings
from unitledger.domain import UsageReport
from unitledger.errors import IdempotencyConflict
from unitledger.issuing import issue_license
from unitledger.service.auth import Principal, Role
from unitledger.service.ingest import ReportOutcome, record_batch
from unitledger.signing import KeyPair

ADMIN = Principal("test-admin", Role.ADMIN, "storage-test")
NOW = datetime.now(UTC)


@dataclass
class Ledger:
    runtime: Runtime
    vendor: KeyPair

    @property
    def service(self) -> Any:
        return self.runtime.service

    async def install(self, **overrides: Any) -> dict[str, Any]:
        spec = license_spec(self.service.deployment_id, **overrides)
        envelope = json.dumps(issue_license(spec, self.vendor))
        result: dict[str, Any] = await self.service.install_license(envelope, ADMIN)
        return result

    async def report(
        self, dimensions: Mapping[str, float], key: str, **fields: Any
    ) -> ReportOutcome:
        raw = {"extension_id": "oracle-cdc", "dimensions": dict(dimensions), **fields}
        raw["idempotency_key"] = key
        outcome: ReportOutcome = await self.service.report_usage(raw, ADMIN)
        return outcome

    def records(self) -> list[dict[str, Any]]:
        page: dict[str, Any] = self.service.records(RecordFilter(), None, 1000)
        return list(page["items"])


def settings_for(tmp_path: Path, database_url: str, vendor: KeyPair) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        vendor_public_key=vendor.public_pem().decode(),
    )


@pytest.fixture
async def ledger(tmp_path: Path, database_url: str, vendor_key: KeyPair) -> AsyncIterator[Ledger]:
    runtime = build_service(settings_for(tmp_path, database_url, vendor_key))
    await runtime.service.start()
    try:
        yield Ledger(runtime, vendor_key)
    finally:
        await runtime.service.stop()
        runtime.engine.dispose()


def test_migrations_build_exactly_the_schema_the_tables_declare(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second start finds nothing to do
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []
    finally:
        engine.dispose()


async def test_retried_report_is_stored_and_charged_once(ledger: Ledger) -> None:
    await ledger.install(capacity_units=100)
    first = await ledger.report({"tables_replicated": 5}, "retry-1")
    again = await ledger.report({"tables_replicated": 5}, "retry-1")
    assert first.record_id is not None
    assert not first.duplicate
    assert again.duplicate
    assert again.record_id == first.record_id
    assert again.units == first.units == 5.0
    assert len(ledger.records()) == 1
    assert ledger.service.summary()["used_units"] == 5.0


async def test_reused_key_for_different_report_is_refused_and_changes_nothing(
    ledger: Ledger,
) -> None:
    await ledger.install(capacity_units=100)
    await ledger.report({"tables_replicated": 5}, "same-key")
    with pytest.raises(IdempotencyConflict) as refused:
        await ledger.report({"tables_replicated": 6}, "same-key")
    assert refused.value.field == "idempotency_key"
    assert len(ledger.records()) == 1
    assert ledger.service.summary()["used_units"] == 5.0


async def test_units_fill_the_soonest_expiring_license_first_then_overflow_as_overage(
    ledger: Ledger,
) -> None:
    later = await ledger.install(
        license_id="LIC-LATER", capacity_units=10, expires_at=stamp(NOW + timedelta(days=60))
    )
    sooner = await ledger.install(
        license_id="LIC-SOONER", capacity_units=10, expires_at=stamp(NOW + timedelta(days=30))
    )
    for n, units in enumerate([6, 6, 6, 5]):
        await ledger.report({"tables_replicated": units}, f"order-{n}")
    records = ledger.records()
    charges = {r["record_id"]: r["charges"] for r in records}
    assert [c["license_id"] for c in charges[2]] == [sooner["license_id"], later["license_id"]]
    assert charges[4] == [
        {"license_id": later["license_id"], "period": "term", "units": 5.0, "over_units": 3.0}
    ]
    used = check_charging(records, ledger.service.licenses())
    assert used == {"LIC-SOONER": 10.0, "LIC-LATER": 13.0}
    summary = ledger.service.summary()
    assert summary["used_units"] == 23.0
    assert summary["over_units"] == 3.0


async def test_chain_head_is_the_last_record_and_a_changed_record_is_detected(
    ledger: Ledger,
) -> None:
    await ledger.install(capacity_units=100)
    for n in range(3):
        await ledger.report({"tables_replicated": n + 1}, f"chain-{n}")
    last = max(ledger.records(), key=lambda r: r["record_id"])
    assert ledger.service.queries.ledger_head() == (3, last["hash"])
    assert ledger.service.verify_ledger().ok
    with ledger.runtime.engine.begin() as conn:
        conn.execute(
            update(t.usage_records).where(t.usage_records.c.record_id == 2).values(units=0.5)
        )
    report = ledger.service.verify_ledger()
    assert not report.ok
    assert report.first_bad_record == 2


async def test_reports_of_one_hour_are_summed_into_one_rollup_row(ledger: Ledger) -> None:
    await ledger.install(capacity_units=100)
    hour = (NOW - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    for n in range(3):
        when = stamp(hour + timedelta(minutes=10 * n))
        dims = {"tables_replicated": 1, "bytes_transferred_gb": 2}
        await ledger.report(dims, f"rollup-{n}", occurred_at=when)
    with ledger.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(t.usage_rollups).order_by(t.usage_rollups.c.dimension)
        ).mappings()
        found = [(r["dimension"], r["value"], r["units"], r["records"]) for r in rows]
    assert found == [("bytes_transferred_gb", 6.0, 3.0, 3), ("tables_replicated", 3.0, 3.0, 3)]


async def test_uncovered_report_is_quarantined_then_counted_once_covered(ledger: Ledger) -> None:
    await ledger.install(capacity_units=100, rates={"*": {"tables_replicated": 1}})
    held = await ledger.report({"events_processed": 10}, "q-1")
    assert held.record_id is None
    assert held.quarantine_id is not None
    again = await ledger.report({"events_processed": 10}, "q-1")
    assert again.duplicate
    assert again.quarantine_id == held.quarantine_id
    assert [q["quarantine_id"] for q in ledger.service.quarantine()] == [held.quarantine_id]
    assert ledger.records() == []

    await ledger.install(capacity_units=100, rates={"*": {"events_processed": 0.1}})
    replay = await ledger.service.replay_quarantine(ADMIN)
    assert replay["replayed"] == 1
    assert ledger.service.quarantine() == []
    (entry,) = ledger.service.quarantine(status="replayed")
    (record,) = ledger.records()
    assert entry["record_id"] == record["record_id"]
    assert record["units"] == pytest.approx(1.0)
    # The original key now answers with the record, not the quarantine entry.
    after = await ledger.report({"events_processed": 10}, "q-1")
    assert after.duplicate
    assert after.record_id == record["record_id"]


def test_writers_racing_on_an_empty_ledger_all_commit_in_sequence(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    writers = 8
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            start.wait(10)
            with SqlUnitOfWork(engine) as uow:
                seq, hash_ = uow.lock_head()
                uow.save_head(seq + 1, hash_)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert errors == []
        with engine.connect() as conn:
            assert conn.execute(select(t.ledger_head.c.seq)).scalar_one() == writers
    finally:
        engine.dispose()


async def test_writers_on_separate_engines_charge_exactly_and_store_each_report_once(
    ledger: Ledger, database_url: str
) -> None:
    """Three engines stand in for three replicas: their batches interleave on one database."""
    await ledger.install(
        license_id="LIC-A", capacity_units=150, expires_at=stamp(NOW + timedelta(days=30))
    )
    await ledger.install(
        license_id="LIC-B", capacity_units=150, expires_at=stamp(NOW + timedelta(days=60))
    )
    reports = [
        ledger.service.parse(
            {
                "extension_id": f"ext-{n % 3}",
                "dimensions": {"tables_replicated": 1 + n % 4},
                "idempotency_key": f"race-{n}",
            }
        )
        for n in range(240)
    ]
    writers = 3
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(index: int) -> None:
        engine = make_engine(database_url)
        # Each writer sends its own third and, again, the next writer's first ten reports.
        mine = reports[index::writers]
        theirs = reports[(index + 1) % writers :: writers][:10]
        batches: list[list[UsageReport]] = [mine[i : i + 8] for i in range(0, len(mine), 8)]
        batches.insert(3, theirs)
        try:
            start.wait(10)
            for batch in batches:
                with SqlUnitOfWork(engine) as uow:
                    result = record_batch(uow, batch, datetime.now(UTC))
                assert not [o for o in result.outcomes if not isinstance(o, ReportOutcome)]
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []

    records = ledger.records()
    assert sorted(r["idempotency_key"] for r in records) == sorted(
        r.idempotency_key for r in reports
    )
    assert [r["record_id"] for r in sorted(records, key=lambda r: r["record_id"])] == list(
        range(1, len(reports) + 1)
    )
    total = sum(sum(r.dimensions.values()) for r in reports)
    used = check_charging(records, ledger.service.licenses())
    assert used["LIC-A"] == 150.0
    assert sum(used.values()) == pytest.approx(total)
    assert ledger.service.verify_ledger().ok
    with ledger.runtime.engine.connect() as conn:
        rollup_units = conn.execute(select(func.sum(t.usage_rollups.c.units))).scalar_one()
    assert rollup_units == pytest.approx(total)
