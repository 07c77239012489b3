"""Hypothesis strategies for licenses, pools and reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from unitledger.domain import License, LicensePool, Period, PoolUsage

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
DIMS = ["tables_replicated", "bytes_transferred_gb", "events_processed"]


@st.composite
def licenses(draw: st.DrawFn, *, valid: bool | None = None, index: int = 0) -> License:
    start = NOW - timedelta(days=draw(st.integers(0 if valid is not False else -30, 60)))
    days = draw(st.integers(1, 400))
    expires = start + timedelta(days=days)
    if valid is True and expires <= NOW:
        expires = NOW + timedelta(days=draw(st.integers(1, 100)))
    rate_keys = draw(st.lists(st.sampled_from(DIMS), min_size=1, max_size=3, unique=True))
    rates = {d: draw(st.floats(0, 5, allow_nan=False)) for d in rate_keys}
    target = draw(st.sampled_from(["*", "oracle-cdc"]))
    return License(
        license_id=f"L{index}-{draw(st.integers(0, 10**6))}",
        customer="c",
        deployment_id="dep",
        issued_at=start - timedelta(days=draw(st.integers(0, 5))),
        valid_from=start,
        expires_at=expires,
        grace_days=draw(st.integers(0, 30)),
        capacity_units=draw(st.floats(1, 10_000, allow_nan=False)),
        period=Period.TERM,
        rates={target: rates},
    )


@st.composite
def pools(draw: st.DrawFn, min_size: int = 0, max_size: int = 4) -> list[LicensePool]:
    count = draw(st.integers(min_size, max_size))
    result = []
    for i in range(count):
        lic = draw(licenses(index=i))
        used = draw(st.floats(0, lic.capacity_units * 1.5, allow_nan=False))
        exhausted = (
            NOW - timedelta(days=draw(st.integers(0, 40))) if used >= lic.capacity_units else None
        )
        result.append(LicensePool(lic, PoolUsage(lic.license_id, "term", used, exhausted)))
    return result


def dimensions() -> st.SearchStrategy[dict[str, float]]:
    return st.dictionaries(
        st.sampled_from(DIMS), st.floats(0, 1e6, allow_nan=False, allow_infinity=False), min_size=1
    )


def make(
    license_id: str,
    capacity: float,
    expires_days: int,
    issued_days_ago: int = 10,
    rates: dict[str, float] | None = None,
    used: float = 0.0,
) -> LicensePool:
    lic = License(
        license_id=license_id,
        customer="c",
        deployment_id="dep",
        issued_at=NOW - timedelta(days=issued_days_ago),
        valid_from=NOW - timedelta(days=30),
        expires_at=NOW + timedelta(days=expires_days),
        grace_days=7,
        capacity_units=capacity,
        period=Period.TERM,
        rates={"*": rates or {"tables_replicated": 1.0, "bytes_transferred_gb": 0.5}},
    )
    return LicensePool(lic, PoolUsage(license_id, "term", used))
