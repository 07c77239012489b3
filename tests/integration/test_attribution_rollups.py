"""Re-attribution keeps the rollups exact: after any mix of moves they equal the records' sums."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from support import ServerProcess, stamp

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def rollups_from_records(url: str) -> tuple[dict[tuple[Any, ...], list[float]], ...]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            records = conn.execute(
                text(
                    "SELECT occurred_at_us, extension_id, account, business_unit_id, dimensions, "
                    "units_by_dimension FROM usage_records"
                )
            ).all()
            hourly = conn.execute(
                text(
                    "SELECT hour_us, extension_id, account, business_unit_id, dimension, value, units, records "
                    "FROM usage_rollups_hourly"
                )
            ).all()
            daily = conn.execute(
                text(
                    "SELECT day_us, extension_id, business_unit_id, dimension, value, units, records "
                    "FROM usage_rollups_daily"
                )
            ).all()
    finally:
        engine.dispose()
    expected: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for at, ext, account, bu, dims, units in records:
        unit_map = json.loads(units)
        for dim, value in json.loads(dims).items():
            acc = expected[(at - at % HOUR_US, ext, account, bu or "", dim)]
            acc[0] += value
            acc[1] += unit_map[dim]
            acc[2] += 1
    stored = {tuple(r[:5]): [r[5], r[6], r[7]] for r in hourly}
    expected_daily: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for (hour, ext, _account, bu, dim), acc in stored.items():
        day = expected_daily[(hour - hour % DAY_US, ext, bu, dim)]
        for i in range(3):
            day[i] += acc[i]
    stored_daily = {tuple(r[:4]): [r[4], r[5], r[6]] for r in daily}
    return dict(expected), stored, dict(expected_daily), stored_daily


def same(
    left: dict[tuple[Any, ...], list[float]], right: dict[tuple[Any, ...], list[float]]
) -> None:
    assert set(left) == set(right)
    for key, values in left.items():
        assert values == pytest.approx(right[key], rel=1e-9, abs=1e-9), key


def test_rollups_equal_the_records_after_random_reattribution(
    server: ServerProcess, database_url: str
) -> None:
    server.install_license(capacity_units=100_000)
    rng = random.Random(5)
    now = datetime.now(UTC)
    with server.client() as c:
        for name in ("Alpha", "Beta", "Gamma"):
            assert c.post("/business-units", json={"name": name}).status_code == 201
        c.post(
            "/attribution/rules", json={"extension_pattern": "ext-a", "business_unit_id": "alpha"}
        )
        ids = []
        for n in range(60):
            body = {
                "extension_id": rng.choice(["ext-a", "ext-b", "ext-c"]),
                "account": rng.choice(["u1@x", "u2@x", "u3@y"]),
                "dimensions": {
                    "tables_replicated": rng.randint(1, 9),
                    "bytes_transferred_gb": rng.randint(0, 5),
                },
                "idempotency_key": f"k{n}",
                "occurred_at": stamp(now - timedelta(hours=rng.randint(0, 40))),
            }
            response = c.post("/usage", json=body)
            assert response.status_code == 200, response.text
            ids.append(response.json()["record_id"])
        window = {"start": stamp(now - timedelta(days=3)), "end": stamp(now + timedelta(hours=1))}
        steps: list[tuple[str, dict[str, object]]] = [
            (
                "/attribution/manual",
                {"record_ids": rng.sample(ids, 15), "to_business_unit_id": "beta"},
            ),
            ("/attribution/manual", {"account": "u3@y", "to_business_unit_id": "gamma"}),
            (
                "/attribution/rules",
                {"account_pattern": "*@x", "business_unit_id": "gamma", "priority": 5},
            ),
            ("/attribution/reapply", {**window, "dry_run": False}),
            ("/attribution/clear", {"record_ids": ids[:30]}),
            (
                "/attribution/manual",
                {"unattributed": True, "extension_id": "ext-c", "to_business_unit_id": "alpha"},
            ),
        ]
        for path, step_body in steps:
            response = c.post(path, json=step_body)
            assert response.status_code in (200, 201), response.text
        assert c.delete("/business-units/gamma").status_code == 200
        report = c.get(
            "/reports/allocation",
            params={"period_start": window["start"], "period_end": window["end"]},
        ).json()
        total = c.get("/usage/summary", params=window).json()["window_units"]
    assert report["total_units"] == pytest.approx(total)
    expected, stored, expected_daily, stored_daily = rollups_from_records(database_url)
    same(expected, stored)
    same(expected_daily, stored_daily)
    assert httpx.get(f"{server.url}/api/v1/ping").status_code == 200
