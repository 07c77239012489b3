"""Demo data: two licenses and 30 days of realistic usage, loaded once per data directory.

Six extensions report two or three dimensions each; usage grows over the month
and crosses 90 % of capacity near the end, one license is a few days from
expiry, and one extension reports a dimension no license covers, so every
screen has something true to show.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from unitledger.bootstrap import Runtime, demo_vendor_key
from unitledger.domain import UsageReport
from unitledger.issuing import issue_license
from unitledger.service.enforcement import evaluate_states, load_pools
from unitledger.service.ingest import record_batch

__all__ = ["DEMO_EXTENSIONS", "demo_licenses", "load_demo"]

DEMO_EXTENSIONS: dict[str, dict[str, tuple[float, float]]] = {
    # extension: {dimension: (typical value per report, spread)}
    "oracle-cdc": {"tables_replicated": (4, 3), "bytes_transferred_gb": (12, 8)},
    "kafka-bridge": {"events_processed": (40_000, 20_000), "bytes_transferred_gb": (6, 4)},
    "s3-archiver": {"objects_written": (900, 500), "bytes_transferred_gb": (20, 10)},
    "hive-migrator": {
        "tables_replicated": (3, 2),
        "partitions_migrated": (40, 20),
        "bytes_transferred_gb": (9, 5),
    },
    "postgres-replicator": {"tables_replicated": (2, 1), "rows_replicated_m": (3, 2)},
}
UNCOVERED_EXTENSION = ("legacy-sync", {"rows_scanned": 120_000.0})
ACCOUNTS = [
    "svc-etl@finance",
    "svc-ingest@marketing",
    "svc-bi@sales",
    "alice@data-eng",
    "svc-ml@research",
]
RATES = {
    "tables_replicated": 1.0,
    "bytes_transferred_gb": 0.5,
    "events_processed": 0.0001,
    "objects_written": 0.002,
    "partitions_migrated": 0.05,
    "rows_replicated_m": 1.5,
}
CAPACITY_SOON, CAPACITY_MAIN = 12_000.0, 40_000.0


def _stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def demo_licenses(runtime: Runtime, now: datetime) -> list[dict[str, object]]:
    """Two signed licenses for this deployment: one expiring in 5 days, one in 200."""
    key = demo_vendor_key(runtime.settings)
    start = now - timedelta(days=35)
    common = {
        "customer": "Demo Corp",
        "deployment_id": runtime.service.deployment_id,
        "issued_at": _stamp(start),
        "valid_from": _stamp(start),
        "grace_days": 30,
        "period": "term",
        "rates": {"*": RATES},
    }
    return [
        issue_license(
            {
                **common,
                "license_id": "DEMO-Q4-BURST",
                "capacity_units": CAPACITY_SOON,
                "expires_at": _stamp(now + timedelta(days=5)),
                "cost": {"amount": 6000, "currency": "EUR"},
            },
            key,
        ),
        issue_license(
            {
                **common,
                "license_id": "DEMO-ANNUAL",
                "capacity_units": CAPACITY_MAIN,
                "expires_at": _stamp(now + timedelta(days=200)),
                "cost": {"amount": 48000, "currency": "EUR"},
            },
            key,
        ),
    ]


def _history(now: datetime, rng: random.Random) -> list[UsageReport]:
    """About 2,000 reports over 30 days whose units reach ~93 % of capacity."""
    reports: list[UsageReport] = []
    start = now - timedelta(days=30)
    for hour in range(30 * 24):
        when = start + timedelta(hours=hour)
        # Growth over the month plus a daily rhythm: the platform gets busier.
        growth = 0.4 + 1.4 * hour / (30 * 24)
        busy = 1.3 if 8 <= when.hour < 20 else 0.6
        for ext, dims in DEMO_EXTENSIONS.items():
            if rng.random() > 0.45 * growth * busy:
                continue
            values = {
                name: round(max(mean + rng.uniform(-spread, spread), 0.0), 3)
                for name, (mean, spread) in dims.items()
            }
            reports.append(
                UsageReport(
                    ext,
                    rng.choice(ACCOUNTS),
                    values,
                    f"demo-{ext}-{hour}",
                    when + timedelta(minutes=rng.randint(0, 59)),
                )
            )
    return reports


def _scale(reports: list[UsageReport], target_units: float) -> list[UsageReport]:
    raw = sum(sum(v * RATES[k] for k, v in r.dimensions.items()) for r in reports)
    factor = target_units / raw
    return [
        UsageReport(
            r.extension_id,
            r.account,
            {k: round(v * factor, 4) for k, v in r.dimensions.items()},
            r.idempotency_key,
            r.occurred_at,
        )
        for r in reports
    ]


def load_demo(
    runtime: Runtime, echo: Callable[[str], None] = print, *, now: datetime | None = None
) -> bool:
    """Install demo licenses and history unless this database already has them."""
    from unitledger.adapters.storage.unit_of_work import SqlUnitOfWork

    now = now or datetime.now(UTC)
    with SqlUnitOfWork(runtime.engine) as uow:
        if uow.get_meta("demo_loaded"):
            return False
    service = runtime.service
    with SqlUnitOfWork(runtime.engine) as uow:
        for envelope in demo_licenses(runtime, now):
            text = json.dumps(envelope)
            payload, license = service.verify_license_file(text)
            uow.add_license(
                license,
                json.dumps(payload, sort_keys=True, separators=(",", ":")),
                text,
                now - timedelta(days=35),
            )
    rng = random.Random(20261204)
    reports = _scale(_history(now, rng), 0.93 * (CAPACITY_SOON + CAPACITY_MAIN))
    # Write in daily batches, each charged at the time it happened.
    for day in range(31):
        day_end = now - timedelta(days=30 - day)
        chunk = [r for r in reports if day_end - timedelta(days=1) <= r.occurred_at < day_end]
        if chunk:
            with SqlUnitOfWork(runtime.engine) as uow:
                record_batch(uow, chunk, day_end)
    ext, dims = UNCOVERED_EXTENSION
    with SqlUnitOfWork(runtime.engine) as uow:
        record_batch(
            uow,
            [UsageReport(ext, "svc-legacy@ops", dims, "demo-legacy-1", now - timedelta(hours=2))],
            now,
        )
        evaluate_states(uow, load_pools(uow, now, lock=True), now)
        uow.set_meta("demo_loaded", now.isoformat())
    echo(
        f"demo data loaded: 2 licenses, {len(reports)} usage records over 30 days, "
        f"1 quarantined report from {ext}"
    )
    return True
