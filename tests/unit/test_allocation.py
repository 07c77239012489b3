"""Allocation reports: every unit lands in exactly one row, and rows are priced per unit."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitledger.domain.allocation import (
    Bucket,
    Grouping,
    UsageSlice,
    allocate,
    bucket_start,
    cost_rate,
)
from unitledger.domain.attribution import BusinessUnit
from unitledger.domain.licenses import License, LicenseCost, Period
from unitledger.domain.usage import to_micros

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 4, 1, tzinfo=UTC)
UNITS = {
    "finance": BusinessUnit("finance", "Finance", soft_quota_units=100.0),
    "ops": BusinessUnit("ops", "Operations"),
}

slices = st.lists(
    st.builds(
        UsageSlice,
        business_unit_id=st.sampled_from([None, "finance", "ops", "deleted-bu"]),
        extension_id=st.sampled_from(["oracle-cdc", "mysql-cdc", "kafka"]),
        dimension=st.sampled_from(["tables_replicated", "bytes_transferred_gb"]),
        units=st.floats(0, 1e9, allow_nan=False),
        value=st.floats(0, 1e9, allow_nan=False),
        at_us=st.integers(to_micros(START), to_micros(END) - 1),
    ),
    max_size=60,
)


@given(slices, st.sampled_from(list(Grouping)), st.sampled_from(list(Bucket)))
def test_rows_including_unattributed_add_up_to_the_window_total(
    data: list[UsageSlice], grouping: Grouping, bucket: Bucket
) -> None:
    report = allocate(
        data,
        grouping,
        start_us=to_micros(START),
        end_us=to_micros(END),
        business_units=UNITS,
        bucket=bucket,
    )
    expected = math.fsum(s.units for s in data)
    assert report.total_units == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert math.fsum(r.units for r in report.rows) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    keys = [(r.business_unit_id, r.extension_id, r.bucket_start_us) for r in report.rows]
    assert len(keys) == len(set(keys))


def test_unknown_and_missing_business_units_share_the_unattributed_row() -> None:
    data = [
        UsageSlice(None, "kafka", "events", 5.0),
        UsageSlice("deleted-bu", "kafka", "events", 2.0),
        UsageSlice("finance", "kafka", "events", 30.0),
    ]
    report = allocate(data, Grouping.BUSINESS_UNIT, start_us=0, end_us=1, business_units=UNITS)
    rows = {r.business_unit_name: r for r in report.rows}
    assert rows["Unattributed"].units == 7.0
    assert rows["Finance"].quota_used_ratio == pytest.approx(0.3)
    assert [r.business_unit_name for r in report.rows] == ["Finance", "Unattributed"]


def test_time_buckets_start_on_day_monday_and_first_of_month() -> None:
    wednesday = to_micros(datetime(2024, 2, 14, 15, tzinfo=UTC))
    assert bucket_start(wednesday, Bucket.DAY) == to_micros(datetime(2024, 2, 14, tzinfo=UTC))
    assert bucket_start(wednesday, Bucket.WEEK) == to_micros(datetime(2024, 2, 12, tzinfo=UTC))
    assert bucket_start(wednesday, Bucket.MONTH) == to_micros(datetime(2024, 2, 1, tzinfo=UTC))


def lic(
    license_id: str, amount: str | None, currency: str = "EUR", capacity: float = 1000
) -> License:
    return License(
        license_id=license_id,
        customer="c",
        deployment_id="d",
        issued_at=START,
        valid_from=START,
        expires_at=END,
        grace_days=0,
        capacity_units=capacity,
        period=Period.TERM,
        rates={"*": {"x": 1.0}},
        cost=None if amount is None else LicenseCost(Decimal(amount), currency),
    )


def test_cost_per_unit_is_license_cost_over_licensed_units() -> None:
    rate, notes = cost_rate([lic("a", "5000"), lic("b", None)], START, END)
    assert notes == ()
    assert rate is not None
    assert rate.cost_per_unit == Decimal(5)
    report = allocate(
        [UsageSlice("finance", "kafka", "x", 12.5)],
        Grouping.BUSINESS_UNIT,
        start_us=0,
        end_us=1,
        business_units=UNITS,
        rate=rate,
    )
    assert report.rows[0].amount == Decimal("62.5")
    assert report.total_amount == Decimal("62.5")


def test_several_licenses_give_a_capacity_weighted_rate() -> None:
    rate, _ = cost_rate(
        [lic("a", "1000", capacity=1000), lic("b", "3000", capacity=1000)], START, END
    )
    assert rate is not None
    assert rate.cost_per_unit == Decimal(2)


def test_mixed_currencies_give_no_amount_and_say_why() -> None:
    rate, notes = cost_rate([lic("a", "1000"), lic("b", "1000", "USD")], START, END)
    assert rate is None
    assert "several currencies" in notes[0]


def test_licenses_outside_the_window_do_not_price_it() -> None:
    rate, _ = cost_rate([lic("a", "1000")], END + timedelta(days=1), END + timedelta(days=30))
    assert rate is None
