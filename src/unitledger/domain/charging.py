"""Conversion of dimensions into units and charging units to license pools (SPEC §2).

Charging order: among valid licenses that cover the reporting extension, the
soonest-expiring license with capacity left is charged first, overflowing to the
next; equal expiry goes to the earlier-issued license. Whatever no pool can hold
is charged as overage ("Units Over") to the license that expires last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from unitledger.domain.licenses import License, PoolUsage, license_status, period_key

__all__ = [
    "Assessment",
    "Charge",
    "Charged",
    "LicensePool",
    "Uncovered",
    "assess",
    "charging_order",
    "convert",
]


@dataclass(frozen=True, slots=True)
class LicensePool:
    """A license together with its pool for the period a charge falls in."""

    license: License
    pool: PoolUsage


@dataclass(frozen=True, slots=True)
class Charge:
    """Units charged to one license pool; ``over_units`` of them beyond its capacity."""

    license_id: str
    period: str
    units: float
    over_units: float = 0.0


@dataclass(frozen=True, slots=True)
class Charged:
    units: float
    units_by_dimension: Mapping[str, float]
    rates: Mapping[str, float]
    charges: tuple[Charge, ...]
    pools: tuple[LicensePool, ...]

    @property
    def license_ids(self) -> list[str]:
        return [charge.license_id for charge in self.charges]


@dataclass(frozen=True, slots=True)
class Uncovered:
    """The report cannot be counted: these dimensions have no rate in any valid license."""

    dimensions: tuple[str, ...]
    reason: str
    unlicensed: bool


Assessment = Charged | Uncovered


def charging_order(pools: Sequence[LicensePool]) -> list[LicensePool]:
    """Soonest expiry first; equal expiry -> earlier issued; license id breaks ties."""
    return sorted(
        pools, key=lambda p: (p.license.expires_at, p.license.issued_at, p.license.license_id)
    )


def convert(dimensions: Mapping[str, float], rates: Mapping[str, float]) -> dict[str, float]:
    """Units per dimension = value x rate. Every dimension must have a rate."""
    return {name: value * rates[name] for name, value in dimensions.items()}


def _effective_rates(
    extension_id: str, dimensions: Mapping[str, float], ordered: Sequence[LicensePool]
) -> tuple[dict[str, float], list[str]]:
    rates: dict[str, float] = {}
    for name in dimensions:
        for candidate in ordered:
            table = candidate.license.rates_for(extension_id) or {}
            if name in table:
                rates[name] = table[name]
                break
    uncovered = sorted(name for name in dimensions if name not in rates)
    return rates, uncovered


def _split(total: float, ordered: Sequence[LicensePool], now: datetime) -> tuple[Charge, ...]:
    charges: list[Charge] = []
    left = total
    for candidate in ordered:
        if left <= 0:
            break
        room = max(candidate.license.capacity_units - candidate.pool.used_units, 0.0)
        take = min(room, left)
        if take > 0:
            charges.append(Charge(candidate.license.license_id, candidate.pool.period, take))
            left -= take
    if left > 0:
        last = ordered[-1]
        charges.append(Charge(last.license.license_id, last.pool.period, left, over_units=left))
    return tuple(_merge(charges))


def _merge(charges: list[Charge]) -> list[Charge]:
    merged: dict[str, Charge] = {}
    for charge in charges:
        prior = merged.get(charge.license_id)
        if prior is None:
            merged[charge.license_id] = charge
        else:
            merged[charge.license_id] = replace(
                prior,
                units=prior.units + charge.units,
                over_units=prior.over_units + charge.over_units,
            )
    return list(merged.values())


def _apply(pool: LicensePool, charge: Charge | None, now: datetime) -> LicensePool:
    if charge is None:
        return pool
    used = pool.pool.used_units + charge.units
    exhausted = pool.pool.exhausted_at
    if exhausted is None and used >= pool.license.capacity_units:
        exhausted = now
    return LicensePool(pool.license, replace(pool.pool, used_units=used, exhausted_at=exhausted))


def assess(
    extension_id: str,
    dimensions: Mapping[str, float],
    pools: Sequence[LicensePool],
    now: datetime,
) -> Assessment:
    """Decide what a report costs and which pools pay, or why it cannot be counted.

    ``pools`` holds every installed license with its pool for the period of ``now``;
    the result's ``pools`` are the same pools after this charge.
    """
    covering = [
        p
        for p in pools
        if p.license.rates_for(extension_id) is not None
        and license_status(p.license, p.pool, now).is_valid
    ]
    ordered = charging_order(covering)
    rates, uncovered = _effective_rates(extension_id, dimensions, ordered)
    if uncovered:
        unlicensed = not ordered
        if unlicensed:
            reason = f"no valid license covers extension {extension_id!r}"
        else:
            reason = (
                f"no valid license defines a rate for {', '.join(uncovered)} "
                f"reported by {extension_id!r}"
            )
        return Uncovered(tuple(uncovered), reason, unlicensed)
    by_dimension = convert(dimensions, rates)
    total = sum(by_dimension.values())
    charges = _split(total, ordered, now)
    by_license = {c.license_id: c for c in charges}
    updated = tuple(_apply(p, by_license.get(p.license.license_id), now) for p in pools)
    return Charged(total, by_dimension, rates, charges, updated)


def pool_for(
    license: License, pools: Mapping[tuple[str, str], PoolUsage], now: datetime
) -> PoolUsage:
    """The pool of ``license`` for the period of ``now``, empty when nothing was charged yet."""
    key = period_key(license, now)
    return pools.get((license.license_id, key)) or PoolUsage(license.license_id, key)
