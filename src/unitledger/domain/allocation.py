"""Cost allocation: units grouped by business unit, extension or time, priced per unit (SPEC §4).

Input is a list of :class:`UsageSlice` (units already summed by the storage layer
from its rollups); output is an :class:`Allocation` whose rows, Unattributed
included, add up to the window's total.

Cost per unit = license cost ÷ licensed units. When several licenses with a cost
overlap the window (same currency), the rate is Σ cost ÷ Σ capacity, i.e. the
capacity-weighted average; with licenses in different currencies no amount is
given. A row's amount = its units times the cost per unit.
"""

from __future__ import annotations

import enum
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from unitledger.domain.attribution import BusinessUnit
from unitledger.domain.licenses import License
from unitledger.domain.usage import from_micros, to_micros

__all__ = [
    "UNATTRIBUTED",
    "Allocation",
    "AllocationRow",
    "Bucket",
    "CostRate",
    "Grouping",
    "UsageSlice",
    "allocate",
    "bucket_start",
    "cost_rate",
]

UNATTRIBUTED = "Unattributed"
AMOUNT_PLACES = Decimal("0.000001")


class Grouping(enum.StrEnum):
    BUSINESS_UNIT = "business_unit"
    EXTENSION = "extension"
    BUSINESS_UNIT_EXTENSION = "business_unit_extension"
    TIME = "time"

    @property
    def by_business_unit(self) -> bool:
        return self in (Grouping.BUSINESS_UNIT, Grouping.BUSINESS_UNIT_EXTENSION)

    @property
    def by_extension(self) -> bool:
        return self in (Grouping.EXTENSION, Grouping.BUSINESS_UNIT_EXTENSION)


class Bucket(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class UsageSlice:
    """Units of one dimension for one (business unit, extension), optionally at one time.

    ``business_unit_id`` None (or naming a business unit that no longer exists) is
    Unattributed. ``at_us`` is the start of the hour or day the slice covers.
    """

    business_unit_id: str | None
    extension_id: str
    dimension: str
    units: float
    value: float = 0.0
    at_us: int | None = None


@dataclass(frozen=True, slots=True)
class CostRate:
    """What one unit costs, and the licenses the rate comes from."""

    cost_per_unit: Decimal
    currency: str
    license_ids: tuple[str, ...]

    def amount(self, units: float) -> Decimal:
        return (Decimal(repr(units)) * self.cost_per_unit).quantize(AMOUNT_PLACES)


@dataclass(frozen=True, slots=True)
class AllocationRow:
    """One row of a report. Keys not in the grouping are None."""

    business_unit_id: str | None
    business_unit_name: str | None
    extension_id: str | None
    bucket_start_us: int | None
    bucket_end_us: int | None
    units: float
    share: float
    amount: Decimal | None
    soft_quota_units: float | None
    quota_used_ratio: float | None
    dimensions: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def unattributed(self) -> bool:
        return self.business_unit_name == UNATTRIBUTED and self.business_unit_id is None


@dataclass(frozen=True, slots=True)
class Allocation:
    """A report over ``[start_us, end_us)``: rows, their total and the rate used."""

    grouping: Grouping
    bucket: Bucket | None
    start_us: int
    end_us: int
    rows: tuple[AllocationRow, ...]
    total_units: float
    total_amount: Decimal | None
    rate: CostRate | None
    notes: tuple[str, ...] = ()


def bucket_start(at_us: int, bucket: Bucket) -> int:
    """Start (UTC) of the day, ISO week (Monday) or month holding ``at_us``."""
    when = from_micros(at_us).astimezone(UTC)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket is Bucket.DAY:
        return to_micros(day)
    if bucket is Bucket.WEEK:
        return to_micros(day - timedelta(days=day.weekday()))
    return to_micros(day.replace(day=1))


def bucket_end(start_us: int, bucket: Bucket) -> int:
    start = from_micros(start_us)
    if bucket is Bucket.DAY:
        return to_micros(start + timedelta(days=1))
    if bucket is Bucket.WEEK:
        return to_micros(start + timedelta(days=7))
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return to_micros(datetime(year, month, 1, tzinfo=UTC))


def cost_rate(
    licenses: Iterable[License], start: datetime, end: datetime
) -> tuple[CostRate | None, tuple[str, ...]]:
    """The cost per unit over ``[start, end)`` from licenses that carry a cost.

    Returns the rate (None when no amount can be given) and notes saying why not.
    """
    priced = [
        lic
        for lic in licenses
        if lic.cost is not None
        and lic.capacity_units > 0
        and lic.valid_from < end
        and lic.grace_end > start
        and (lic.revoked_at is None or lic.revoked_at > start)
    ]
    if not priced:
        return None, ("no license valid in the window carries a cost, so rows have no amount",)
    currencies = sorted({lic.cost.currency for lic in priced if lic.cost is not None})
    if len(currencies) > 1:
        return None, (
            f"licenses in the window are priced in several currencies ({', '.join(currencies)}); "
            "no single cost per unit applies",
        )
    amount = sum((lic.cost.amount for lic in priced if lic.cost is not None), Decimal(0))
    capacity = sum(Decimal(repr(lic.capacity_units)) for lic in priced)
    ids = tuple(sorted(lic.license_id for lic in priced))
    return CostRate(amount / capacity, currencies[0], ids), ()


def allocate(
    slices: Iterable[UsageSlice],
    grouping: Grouping,
    *,
    start_us: int,
    end_us: int,
    business_units: Mapping[str, BusinessUnit],
    rate: CostRate | None = None,
    bucket: Bucket | None = None,
    notes: Sequence[str] = (),
) -> Allocation:
    """Group ``slices`` into report rows; every slice lands in exactly one row."""
    if grouping is Grouping.TIME and bucket is None:
        bucket = Bucket.DAY
    Key = tuple[str | None, str | None, int | None]
    units: dict[Key, list[float]] = defaultdict(list)
    dims: dict[Key, dict[str, list[list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: [[], []])
    )
    bu_units: dict[str | None, list[float]] = defaultdict(list)
    everything: list[float] = []
    for s in slices:
        bu = s.business_unit_id if s.business_unit_id in business_units else None
        when: int | None = None
        if grouping is Grouping.TIME:
            assert bucket is not None
            if s.at_us is None:
                raise ValueError("a time report needs slices with at_us")
            when = max(bucket_start(s.at_us, bucket), start_us)
        key: Key = (
            bu if grouping.by_business_unit else None,
            s.extension_id if grouping.by_extension else None,
            when,
        )
        units[key].append(s.units)
        pair = dims[key][s.dimension]
        pair[0].append(s.value)
        pair[1].append(s.units)
        bu_units[bu].append(s.units)
        everything.append(s.units)
    total = math.fsum(everything)
    bu_total = {bu: math.fsum(v) for bu, v in bu_units.items()}
    rows = []
    for key, parts in units.items():
        bu, ext, when = key
        row_units = math.fsum(parts)
        unit = business_units.get(bu) if bu is not None else None
        quota = unit.soft_quota_units if unit is not None else None
        end = None
        if when is not None:
            assert bucket is not None
            end = min(bucket_end(bucket_start(when, bucket), bucket), end_us)
        rows.append(
            AllocationRow(
                business_unit_id=bu,
                business_unit_name=(
                    (unit.name if unit is not None else UNATTRIBUTED)
                    if grouping.by_business_unit
                    else None
                ),
                extension_id=ext,
                bucket_start_us=when,
                bucket_end_us=end,
                units=row_units,
                share=row_units / total if total else 0.0,
                amount=rate.amount(row_units) if rate is not None else None,
                soft_quota_units=quota,
                quota_used_ratio=bu_total.get(bu, 0.0) / quota if quota else None,
                dimensions={
                    name: (math.fsum(pair[0]), math.fsum(pair[1]))
                    for name, pair in sorted(dims[key].items())
                },
            )
        )
    rows.sort(key=_row_order)
    return Allocation(
        grouping=grouping,
        bucket=bucket if grouping is Grouping.TIME else None,
        start_us=start_us,
        end_us=end_us,
        rows=tuple(rows),
        total_units=total,
        total_amount=rate.amount(total) if rate is not None else None,
        rate=rate,
        notes=tuple(notes),
    )


def _row_order(row: AllocationRow) -> tuple[int, int, str, str]:
    # Time first, then business units by name with Unattributed last, then extensions.
    return (
        row.bucket_start_us or 0,
        1 if row.unattributed else 0,
        (row.business_unit_name or "").lower(),
        row.extension_id or "",
    )
