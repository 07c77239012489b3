"""License status and enforcement states (SPEC §2), by example and by property."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from strategies import NOW, licenses, make, pools

from unitledger.domain import (
    EnforcementState,
    LicensePool,
    LicenseStatus,
    PoolUsage,
    extension_state,
    global_enforcement,
    license_status,
)


def test_license_statuses_follow_dates_pool_and_revocation() -> None:
    pool = make("A", 100, 10)
    lic = pool.license
    assert license_status(lic, pool.pool, NOW) is LicenseStatus.ACTIVE
    assert (
        license_status(lic, pool.pool, lic.valid_from - timedelta(seconds=1))
        is LicenseStatus.PENDING
    )
    assert license_status(lic, pool.pool, lic.expires_at + timedelta(days=1)) is LicenseStatus.GRACE
    assert license_status(lic, pool.pool, lic.grace_end) is LicenseStatus.EXPIRED
    used_up = PoolUsage("A", "term", 100, NOW - timedelta(days=1))
    assert license_status(lic, used_up, NOW) is LicenseStatus.GRACE
    assert license_status(lic, used_up, NOW + timedelta(days=7)) is LicenseStatus.EXPIRED
    assert license_status(replace(lic, revoked_at=NOW), pool.pool, NOW) is LicenseStatus.REVOKED


def test_warning_starts_exactly_at_ninety_percent() -> None:
    below = make("A", 100, 10, used=89.999)
    at = make("A", 100, 10, used=90)
    assert global_enforcement([below], NOW).state is EnforcementState.OK
    assert global_enforcement([at], NOW).state is EnforcementState.WARNING


def test_no_valid_license_is_unlicensed() -> None:
    assert global_enforcement([], NOW).state is EnforcementState.UNLICENSED
    assert global_enforcement([make("OLD", 10, -60)], NOW).state is EnforcementState.UNLICENSED


def test_a_license_in_grace_makes_the_state_warning() -> None:
    assert (
        global_enforcement([make("A", 100, -1), make("B", 1000, 100)], NOW).state
        is EnforcementState.WARNING
    )


def test_extension_reporting_an_uncovered_dimension_is_disabled_until_covered() -> None:
    pool = make("A", 100, 10)
    state, still = extension_state(
        "legacy-sync", ["rows_scanned"], [pool], EnforcementState.OK, NOW
    )
    assert state is EnforcementState.DISABLED
    assert still == ("rows_scanned",)
    covering = make("B", 100, 10, rates={"rows_scanned": 0.001})
    state, still = extension_state(
        "legacy-sync", ["rows_scanned"], [pool, covering], EnforcementState.OK, NOW
    )
    assert state is EnforcementState.OK
    assert still == ()


def test_extension_without_any_valid_covering_license_is_unlicensed() -> None:
    state, _ = extension_state("x", [], [make("OLD", 10, -60)], EnforcementState.UNLICENSED, NOW)
    assert state is EnforcementState.UNLICENSED


@given(pools(min_size=1), st.floats(0, 1e5, allow_nan=False), st.floats(0, 1e5, allow_nan=False))
def test_state_is_monotone_in_usage(pool_list: list[LicensePool], a: float, b: float) -> None:
    low, high = sorted((a, b))

    def at(extra: float) -> EnforcementState:
        first = pool_list[0]
        bumped = replace(first.pool, used_units=first.pool.used_units + extra)
        if bumped.used_units >= first.license.capacity_units and bumped.exhausted_at is None:
            bumped = replace(bumped, exhausted_at=NOW)
        return global_enforcement([LicensePool(first.license, bumped), *pool_list[1:]], NOW).state

    assert at(low).severity <= at(high).severity


@given(
    pools(),
    licenses(valid=True, index=99),
    st.lists(st.sampled_from(["tables_replicated", "rows_scanned"]), max_size=2),
)
def test_installing_a_license_only_moves_a_disabled_extension_towards_enabled(
    pool_list: list[LicensePool], new: object, uncovered: list[str]
) -> None:
    assert hasattr(new, "license_id")
    before_global = global_enforcement(pool_list, NOW).state
    before, still_before = extension_state("oracle-cdc", uncovered, pool_list, before_global, NOW)
    added = [*pool_list, LicensePool(new, PoolUsage(new.license_id, "term"))]  # type: ignore[arg-type]
    after_global = global_enforcement(added, NOW).state
    after, still_after = extension_state("oracle-cdc", uncovered, added, after_global, NOW)
    assert set(still_after) <= set(still_before)
    if before is not EnforcementState.DISABLED:
        assert after is not EnforcementState.DISABLED
