"""Licenses: their fields, how a document is parsed, and the status rules (SPEC §2).

Signatures are checked by ``unitledger.signing`` before a document reaches
:func:`parse_license`; this module only knows what a well-formed license says.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from unitledger.domain.names import DIMENSION_NAME, EXTENSION_ID
from unitledger.errors import InvalidLicense

__all__ = [
    "License",
    "LicenseCost",
    "LicenseStatus",
    "Period",
    "PoolUsage",
    "license_status",
    "parse_license",
    "period_key",
]

LICENSE_FIELDS = frozenset(
    {
        "license_id",
        "customer",
        "deployment_id",
        "issued_at",
        "valid_from",
        "expires_at",
        "grace_days",
        "capacity_units",
        "period",
        "rates",
        "cost",
    }
)
REQUIRED_FIELDS = LICENSE_FIELDS - {"cost"}


class LicenseStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    GRACE = "GRACE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"

    @property
    def is_valid(self) -> bool:
        """Valid licenses grant capacity: extensions they cover keep running."""
        return self in (LicenseStatus.ACTIVE, LicenseStatus.GRACE)


class Period(enum.StrEnum):
    TERM = "term"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class LicenseCost:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class License:
    """A verified license document. Rates map extension id (or ``*``) to dimension rates."""

    license_id: str
    customer: str
    deployment_id: str
    issued_at: datetime
    valid_from: datetime
    expires_at: datetime
    grace_days: int
    capacity_units: float
    period: Period
    rates: Mapping[str, Mapping[str, float]]
    cost: LicenseCost | None = None
    revoked_at: datetime | None = None

    def rates_for(self, extension_id: str) -> Mapping[str, float] | None:
        """The rate table that applies to ``extension_id``, or None if it is not covered.

        An entry for the extension itself wins over the ``*`` entry, dimension by
        dimension, so a license can price one extension's dimension differently.
        """
        own = self.rates.get(extension_id)
        star = self.rates.get("*")
        if own is None and star is None:
            return None
        merged: dict[str, float] = dict(star or {})
        merged.update(own or {})
        return merged

    @property
    def grace_end(self) -> datetime:
        return self.expires_at + timedelta(days=self.grace_days)

    @property
    def cost_per_unit(self) -> Decimal | None:
        if self.cost is None or self.capacity_units <= 0:
            return None
        return self.cost.amount / Decimal(str(self.capacity_units))


@dataclass(frozen=True, slots=True)
class PoolUsage:
    """Units charged to one license in one period, and when the pool ran out."""

    license_id: str
    period: str
    used_units: float = 0.0
    exhausted_at: datetime | None = None


def period_key(license: License, when: datetime) -> str:
    """The pool a charge at ``when`` falls in: the whole term, or a UTC calendar month."""
    if license.period is Period.TERM:
        return "term"
    return when.astimezone(UTC).strftime("%Y-%m")


def license_status(license: License, pool: PoolUsage | None, now: datetime) -> LicenseStatus:
    """Compute a license's status at ``now`` from its dates and its pool (SPEC §2)."""
    if license.revoked_at is not None and license.revoked_at <= now:
        return LicenseStatus.REVOKED
    if now < license.valid_from:
        return LicenseStatus.PENDING
    if now >= license.expires_at:
        return LicenseStatus.GRACE if now < license.grace_end else LicenseStatus.EXPIRED
    if pool is not None and pool.used_units >= license.capacity_units:
        exhausted = pool.exhausted_at or now
        if now < exhausted + timedelta(days=license.grace_days):
            return LicenseStatus.GRACE
        return LicenseStatus.EXPIRED
    return LicenseStatus.ACTIVE


def _fail(detail: str, field_name: str) -> InvalidLicense:
    return InvalidLicense(detail, field=field_name)


def _timestamp(doc: Mapping[str, Any], name: str) -> datetime:
    raw = doc.get(name)
    if not isinstance(raw, str):
        raise _fail(f"{name} must be an ISO-8601 timestamp string, got {raw!r}", name)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"{name} is not an ISO-8601 timestamp: {raw!r}", name) from None
    if value.tzinfo is None:
        raise _fail(f"{name} must carry a time zone (e.g. 2026-01-01T00:00:00Z)", name)
    return value.astimezone(UTC)


def _text(doc: Mapping[str, Any], name: str, limit: int = 200) -> str:
    raw = doc.get(name)
    if not isinstance(raw, str) or not raw.strip() or len(raw) > limit:
        raise _fail(f"{name} must be a non-empty string of at most {limit} characters", name)
    return raw


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"rate {where} must be a number, got {value!r}", f"rates.{where}")
    rate = float(value)
    if not math.isfinite(rate) or rate < 0:
        raise _fail(f"rate {where} must be finite and non-negative, got {value!r}", "rates")
    return rate


def _rates(doc: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    raw = doc.get("rates")
    if not isinstance(raw, dict) or not raw:
        raise _fail("rates must map extension ids (or '*') to {dimension: units}", "rates")
    rates: dict[str, dict[str, float]] = {}
    for ext, table in raw.items():
        if ext != "*" and not (isinstance(ext, str) and EXTENSION_ID.fullmatch(ext)):
            raise _fail(f"rates key {ext!r} is not an extension id or '*'", "rates")
        if not isinstance(table, dict) or not table:
            raise _fail(f"rates for {ext!r} must be a non-empty {{dimension: units}} map", "rates")
        for dim in table:
            if not (isinstance(dim, str) and DIMENSION_NAME.fullmatch(dim)):
                raise _fail(f"rates for {ext!r}: {dim!r} is not a dimension name", "rates")
        rates[ext] = {dim: _rate(value, f"{ext}.{dim}") for dim, value in table.items()}
    return rates


def _cost(doc: Mapping[str, Any]) -> LicenseCost | None:
    raw = doc.get("cost")
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"amount", "currency"}:
        raise _fail("cost must be {amount, currency}", "cost")
    currency = raw["currency"]
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise _fail(f"cost.currency must be an ISO-4217 code such as EUR, got {currency!r}", "cost")
    try:
        amount = Decimal(str(raw["amount"]))
    except InvalidOperation:
        raise _fail(f"cost.amount must be a number, got {raw['amount']!r}", "cost") from None
    if not amount.is_finite() or amount < 0:
        raise _fail("cost.amount must be finite and non-negative", "cost")
    return LicenseCost(amount=amount, currency=currency.upper())


def parse_license(doc: object) -> License:
    """Build a :class:`License` from the signed payload, naming the first bad field."""
    if not isinstance(doc, dict):
        raise InvalidLicense("the license payload must be a JSON object", field="license")
    unknown = sorted(set(doc) - LICENSE_FIELDS)
    if unknown:
        raise _fail(f"unknown license field(s): {', '.join(unknown)}", unknown[0])
    missing = sorted(REQUIRED_FIELDS - set(doc))
    if missing:
        raise _fail(f"missing license field(s): {', '.join(missing)}", missing[0])
    grace = doc["grace_days"]
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 3650:
        raise _fail("grace_days must be an integer between 0 and 3650", "grace_days")
    capacity = doc["capacity_units"]
    if isinstance(capacity, bool) or not isinstance(capacity, int | float):
        raise _fail("capacity_units must be a number", "capacity_units")
    if not math.isfinite(capacity) or capacity <= 0:
        raise _fail("capacity_units must be finite and greater than zero", "capacity_units")
    try:
        period = Period(doc["period"])
    except ValueError:
        raise _fail("period must be 'term' or 'monthly'", "period") from None
    license = License(
        license_id=_text(doc, "license_id", 64),
        customer=_text(doc, "customer"),
        deployment_id=_text(doc, "deployment_id", 64),
        issued_at=_timestamp(doc, "issued_at"),
        valid_from=_timestamp(doc, "valid_from"),
        expires_at=_timestamp(doc, "expires_at"),
        grace_days=grace,
        capacity_units=float(capacity),
        period=period,
        rates=_rates(doc),
        cost=_cost(doc),
    )
    if license.expires_at <= license.valid_from:
        raise _fail("expires_at must be after valid_from", "expires_at")
    return license


@dataclass(frozen=True, slots=True)
class LicenseView:
    """A license with its computed status and current-period usage, for display."""

    license: License
    status: LicenseStatus
    pool: PoolUsage
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def remaining_units(self) -> float:
        return max(self.license.capacity_units - self.pool.used_units, 0.0)
