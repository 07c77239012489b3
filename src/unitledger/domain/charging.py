"""Conversion of dimensions into units and charging units to license pools (SPEC §2).

Charging order: among valid licenses that cover the reporting extension, the
soonest-expiring license with capacity left is charged first, overflowing to the
next; equal expiry goes to the earlier-issued license. Whatever no pool can hold
is charged as overage ("Units Over") to the license that expires last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from unitledger.domain.licenses import License, PoolUsage, license_status, period_key

__all__ = [
    "Assessment",
    "BatchAssessment",
    "Charge",
    "Charged",
    "Cost",
    "LicensePool",
    "Uncovered",
    "assess",
    "assess_batch",
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
class Cost:
    """What a counted report costs: its units, how they were priced and which pools pay."""

    units: float
    units_by_dimension: Mapping[str, float]
    rates: Mapping[str, float]
    charges: tuple[Charge, ...]

    @property
    def license_ids(self) -> list[str]:
        return [charge.license_id for charge in self.charges]


@dataclass(frozen=True, slots=True)
class Charged(Cost):
    """A counted report's cost together with every pool after the charge."""

    pools: tuple[LicensePool, ...]


@dataclass(frozen=True, slots=True)
class Uncovered:
    """The report cannot be counted: these dimensions have no rate in any valid license."""

    dimensions: tuple[str, ...]
    reason: str
    unlicensed: bool


Assessment = Charged | Uncovered


@dataclass(frozen=True, slots=True)
class BatchAssessment:
    """One cost (or refusal) per report, in order, and the pools after all of them."""

    results: list[Cost | Uncovered]
    pools: tuple[LicensePool, ...]


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


def _ordering(pool: LicensePool) -> tuple[datetime, datetime, str]:
    return (pool.license.expires_at, pool.license.issued_at, pool.license.license_id)


class _Book:
    """The pools of one batch as mutable local state, with per-extension lookups cached.

    Mirrors :func:`assess` step by step (same float operations in the same order);
    only a license's validity can change within a batch, and only when its pool
    fills up, so the per-extension caches are dropped exactly then.
    """

    def __init__(self, pools: Sequence[LicensePool], now: datetime) -> None:
        self.now = now
        self.initial = pools
        self.licenses = [p.license for p in pools]
        self.periods = [p.pool.period for p in pools]
        self.used = [p.pool.used_units for p in pools]
        self.exhausted = [p.pool.exhausted_at for p in pools]
        self.changed = [False] * len(pools)
        self.index: dict[str, list[int]] = {}
        for i, lic in enumerate(self.licenses):
            self.index.setdefault(lic.license_id, []).append(i)
        self.valid = [license_status(p.license, p.pool, now).is_valid for p in pools]
        self._tables: dict[str, list[Mapping[str, float] | None]] = {}
        self._ordered: dict[str, list[int]] = {}
        self._rates: dict[str, dict[str, float | None]] = {}

    def tables(self, extension_id: str) -> list[Mapping[str, float] | None]:
        found = self._tables.get(extension_id)
        if found is None:
            found = [lic.rates_for(extension_id) for lic in self.licenses]
            self._tables[extension_id] = found
        return found

    def ordered(self, extension_id: str) -> list[int]:
        found = self._ordered.get(extension_id)
        if found is None:
            tables = self.tables(extension_id)
            covering = [
                i for i in range(len(self.licenses)) if tables[i] is not None and self.valid[i]
            ]
            found = sorted(covering, key=lambda i: _ordering(self.initial[i]))
            self._ordered[extension_id] = found
        return found

    def rate(self, extension_id: str, name: str) -> float | None:
        cache = self._rates.setdefault(extension_id, {})
        if name in cache:
            return cache[name]
        tables = self.tables(extension_id)
        found: float | None = None
        for i in self.ordered(extension_id):
            table = tables[i] or {}
            if name in table:
                found = table[name]
                break
        cache[name] = found
        return found

    def assess(self, extension_id: str, dimensions: Mapping[str, float]) -> Cost | Uncovered:
        rates: dict[str, float] = {}
        missing: list[str] = []
        for name in dimensions:
            rate = self.rate(extension_id, name)
            if rate is None:
                missing.append(name)
            else:
                rates[name] = rate
        ordered = self.ordered(extension_id)
        if missing:
            uncovered = sorted(missing)
            if not ordered:
                reason = f"no valid license covers extension {extension_id!r}"
            else:
                reason = (
                    f"no valid license defines a rate for {', '.join(uncovered)} "
                    f"reported by {extension_id!r}"
                )
            return Uncovered(tuple(uncovered), reason, not ordered)
        by_dimension = {name: value * rates[name] for name, value in dimensions.items()}
        total = sum(by_dimension.values())
        charges = self._split(total, ordered)
        for charge in charges:
            self._apply(charge)
        return Cost(total, by_dimension, rates, charges)

    def _split(self, total: float, ordered: list[int]) -> tuple[Charge, ...]:
        charges: list[Charge] = []
        left = total
        for i in ordered:
            if left <= 0:
                break
            room = max(self.licenses[i].capacity_units - self.used[i], 0.0)
            take = min(room, left)
            if take > 0:
                charges.append(Charge(self.licenses[i].license_id, self.periods[i], take))
                left -= take
        if left > 0:
            last = ordered[-1]
            charges.append(
                Charge(self.licenses[last].license_id, self.periods[last], left, over_units=left)
            )
        return (charges[0],) if len(charges) == 1 else tuple(_merge(charges))

    def _apply(self, charge: Charge) -> None:
        for i in self.index[charge.license_id]:
            lic = self.licenses[i]
            capacity = lic.capacity_units
            was_full = self.used[i] >= capacity
            used = self.used[i] + charge.units
            exhausted = self.exhausted[i]
            if exhausted is None and used >= capacity:
                exhausted = self.now
            self.used[i] = used
            self.changed[i] = True
            if (used >= capacity) != was_full or exhausted != self.exhausted[i]:
                self.exhausted[i] = exhausted
                valid = license_status(lic, self.pool(i), self.now).is_valid
                if valid != self.valid[i]:
                    self.valid[i] = valid
                    self._ordered.clear()
                    self._rates.clear()

    def pool(self, i: int) -> PoolUsage:
        return PoolUsage(
            self.licenses[i].license_id, self.periods[i], self.used[i], self.exhausted[i]
        )

    def final(self) -> tuple[LicensePool, ...]:
        return tuple(
            LicensePool(p.license, self.pool(i)) if self.changed[i] else p
            for i, p in enumerate(self.initial)
        )


def assess_batch(
    reports: Iterable[tuple[str, Mapping[str, float]]],
    pools: Sequence[LicensePool],
    now: datetime,
) -> BatchAssessment:
    """Assess ``(extension_id, dimensions)`` reports in order against the same pools.

    The results are exactly those of calling :func:`assess` report by report, each
    on the pools the previous charge left, but the rate lookups and charging order
    are worked out once per extension instead of once per report.
    """
    book = _Book(pools, now)
    results = [book.assess(extension_id, dimensions) for extension_id, dimensions in reports]
    return BatchAssessment(results, book.final())


def pool_for(
    license: License, pools: Mapping[tuple[str, str], PoolUsage], now: datetime
) -> PoolUsage:
    """The pool of ``license`` for the period of ``now``, empty when nothing was charged yet."""
    key = period_key(license, now)
    return pools.get((license.license_id, key)) or PoolUsage(license.license_id, key)
