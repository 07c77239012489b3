"""Conversion and charging across licenses (SPEC §2), by example and by property."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st
from strategies import NOW, dimensions, licenses, make, pools

from unitledger.domain import (
    Charged,
    Cost,
    License,
    LicensePool,
    PoolUsage,
    Uncovered,
    assess,
    assess_batch,
    convert,
)


def test_units_are_value_times_rate_summed() -> None:
    assert convert(
        {"tables_replicated": 5, "bytes_transferred_gb": 3},
        {"tables_replicated": 1, "bytes_transferred_gb": 0.5},
    ) == {
        "tables_replicated": 5,
        "bytes_transferred_gb": 1.5,
    }


def test_soonest_expiring_license_is_charged_first_and_overflows_to_the_next() -> None:
    soon, later = make("SOON", 10, 5), make("LATER", 100, 50)
    result = assess("oracle-cdc", {"tables_replicated": 15}, [later, soon], NOW)
    assert isinstance(result, Charged)
    assert [(c.license_id, c.units, c.over_units) for c in result.charges] == [
        ("SOON", 10, 0),
        ("LATER", 5, 0),
    ]


def test_equal_expiry_charges_the_earlier_issued_license_first() -> None:
    older, newer = make("OLD", 10, 5, issued_days_ago=20), make("NEW", 10, 5, issued_days_ago=2)
    result = assess("x", {"tables_replicated": 4}, [newer, older], NOW)
    assert isinstance(result, Charged)
    assert result.license_ids == ["OLD"]


def test_overflow_beyond_every_pool_is_overage_on_the_last_expiring_license() -> None:
    soon, later = make("SOON", 10, 5, used=10), make("LATER", 20, 50, used=15)
    result = assess("x", {"tables_replicated": 12}, [soon, later], NOW)
    assert isinstance(result, Charged)
    assert [(c.license_id, c.units, c.over_units) for c in result.charges] == [("LATER", 12, 7)]


def test_dimension_without_rate_is_uncovered_and_not_charged() -> None:
    result = assess("x", {"rows_scanned": 10}, [make("A", 10, 5)], NOW)
    assert isinstance(result, Uncovered)
    assert result.dimensions == ("rows_scanned",)
    assert not result.unlicensed


def test_no_valid_license_makes_the_report_unlicensed() -> None:
    expired = make("OLD", 10, -60)
    result = assess("x", {"tables_replicated": 1}, [expired], NOW)
    assert isinstance(result, Uncovered)
    assert result.unlicensed


def test_extension_specific_rate_overrides_the_star_rate() -> None:
    pool = make("A", 100, 5)
    lic = replace(
        pool.license,
        rates={"*": {"tables_replicated": 1.0}, "oracle-cdc": {"tables_replicated": 3.0}},
    )
    result = assess("oracle-cdc", {"tables_replicated": 2}, [LicensePool(lic, pool.pool)], NOW)
    assert isinstance(result, Charged)
    assert result.units == 6


@given(pools(min_size=1), dimensions())
def test_charging_conserves_units_and_never_goes_negative(
    pool_list: list[LicensePool], dims: dict[str, float]
) -> None:
    result = assess("oracle-cdc", dims, pool_list, NOW)
    if isinstance(result, Uncovered):
        return
    assert result.units >= 0
    assert all(c.units >= 0 and c.over_units >= 0 for c in result.charges)
    assert math.isclose(
        sum(c.units for c in result.charges), result.units, rel_tol=1e-9, abs_tol=1e-9
    )
    assert math.isclose(
        sum(result.units_by_dimension.values()), result.units, rel_tol=1e-9, abs_tol=1e-9
    )
    before = sum(p.pool.used_units for p in pool_list)
    after = sum(p.pool.used_units for p in result.pools)
    assert math.isclose(after - before, result.units, rel_tol=1e-9, abs_tol=1e-6)


@given(pools(min_size=1), dimensions())
def test_no_pool_is_charged_past_capacity_except_the_last_expiring(
    pool_list: list[LicensePool], dims: dict[str, float]
) -> None:
    result = assess("oracle-cdc", dims, pool_list, NOW)
    if isinstance(result, Uncovered):
        return
    overage = [c for c in result.charges if c.over_units > 0]
    assert len(overage) <= 1
    by_id = {p.license.license_id: p for p in pool_list}
    for charge in result.charges:
        pool = by_id[charge.license_id]
        room = max(pool.license.capacity_units - pool.pool.used_units, 0)
        assert charge.units - charge.over_units <= room + 1e-6


@given(licenses(valid=True), st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=20))
def test_reports_split_or_whole_charge_the_same_units(lic: License, values: list[float]) -> None:
    pool = [LicensePool(lic, PoolUsage(lic.license_id, "term"))]
    dim = next(iter(lic.rates[next(iter(lic.rates))]))
    whole = assess("oracle-cdc", {dim: sum(values)}, pool, NOW)
    current = pool
    total = 0.0
    for value in values:
        part = assess("oracle-cdc", {dim: value}, current, NOW)
        if isinstance(part, Uncovered):
            return
        total += part.units
        current = list(part.pools)
    assert isinstance(whole, Charged)
    assert math.isclose(total, whole.units, rel_tol=1e-9, abs_tol=1e-6)


def _one_by_one(
    reports: list[tuple[str, dict[str, float]]], pool_list: list[LicensePool]
) -> tuple[list[Cost | Uncovered], tuple[LicensePool, ...]]:
    current: tuple[LicensePool, ...] = tuple(pool_list)
    results: list[Cost | Uncovered] = []
    for extension_id, dims in reports:
        result = assess(extension_id, dims, current, NOW)
        if isinstance(result, Charged):
            current = result.pools
            results.append(
                Cost(result.units, result.units_by_dimension, result.rates, result.charges)
            )
        else:
            results.append(result)
    return results, current


@given(
    pools(max_size=4),
    st.lists(
        st.tuples(st.sampled_from(["oracle-cdc", "kafka-sink"]), dimensions()),
        max_size=30,
    ),
)
def test_batch_charging_gives_exactly_what_assessing_report_by_report_gives(
    pool_list: list[LicensePool], reports: list[tuple[str, dict[str, float]]]
) -> None:
    batch = assess_batch(reports, pool_list, NOW)
    expected, final = _one_by_one(reports, pool_list)
    assert batch.results == expected
    assert batch.pools == final


def test_batch_charging_stops_using_a_license_that_fills_up_without_grace() -> None:
    base = make("ONLY", 10, 5)
    only = replace(base, license=replace(base.license, grace_days=0))
    reports = [("x", {"tables_replicated": 6.0})] * 3
    batch = assess_batch(reports, [only], NOW)
    assert batch.results == _one_by_one(reports, [only])[0]
    first, second, third = batch.results
    assert isinstance(first, Cost) and isinstance(second, Cost)
    assert second.charges[0].over_units == 2.0
    assert isinstance(third, Uncovered) and third.unlicensed
    assert batch.pools[0].pool.used_units == 12.0
    assert batch.pools[0].pool.exhausted_at == NOW
