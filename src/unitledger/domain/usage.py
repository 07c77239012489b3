"""Usage reports as extensions send them, and usage records as the ledger keeps them."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from unitledger.domain.charging import Charge
from unitledger.domain.names import check_account, check_dimension_name, check_extension_id
from unitledger.errors import InvalidReport

__all__ = [
    "GENESIS_HASH",
    "MAX_DIMENSIONS",
    "MAX_VALUE",
    "ReportLimits",
    "UsageRecord",
    "UsageReport",
    "from_micros",
    "parse_report",
    "record_hash",
    "to_micros",
]

REPORT_FIELDS = frozenset(
    {"extension_id", "account", "dimensions", "idempotency_key", "occurred_at"}
)
MAX_DIMENSIONS = 64
# Large enough for byte counts of any real transfer, small enough that sums stay exact-ish.
MAX_VALUE = 1e15
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
GENESIS_HASH = "0" * 64
DEFAULT_ACCOUNT = "unknown"


@dataclass(frozen=True, slots=True)
class ReportLimits:
    """How far ``occurred_at`` may stray from the server clock."""

    max_past: timedelta = timedelta(days=7)
    max_future: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class UsageReport:
    """One validated report: who did how much work, and when."""

    extension_id: str
    account: str
    dimensions: Mapping[str, float]
    idempotency_key: str
    occurred_at: datetime

    def fingerprint(self) -> str:
        """What a retry must repeat exactly; a reused key with another body is a conflict."""
        body = {
            "extension_id": self.extension_id,
            "account": self.account,
            "dimensions": dict(sorted(self.dimensions.items())),
        }
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: the byte form signatures and the ledger hash cover."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(when: datetime) -> int:
    """Exact integer microseconds since the epoch (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICRO


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _dimensions(raw: object) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise InvalidReport("dimensions must be an object of {name: value}", field="dimensions")
    if not raw:
        raise InvalidReport(
            "dimensions is empty: report at least one dimension", field="dimensions"
        )
    if len(raw) > MAX_DIMENSIONS:
        raise InvalidReport(
            f"too many dimensions ({len(raw)}); at most {MAX_DIMENSIONS} per report",
            field="dimensions",
        )
    values: dict[str, float] = {}
    for name, value in raw.items():
        where = f"dimensions.{name}" if isinstance(name, str) and len(name) <= 64 else "dimensions"
        check_dimension_name(name, field=where)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidReport(f"{where} must be a number, got {value!r}", field=where)
        number = float(value) if abs(value) < 1e300 else math.inf
        if math.isnan(number) or math.isinf(number):
            raise InvalidReport(f"{where} must be a finite number, got {value!r}", field=where)
        if number < 0:
            raise InvalidReport(
                f"{where} is negative ({value!r}); values are non-negative increments",
                field=where,
            )
        if number > MAX_VALUE:
            raise InvalidReport(f"{where} is too large (at most {MAX_VALUE:g})", field=where)
        values[name] = number
    return values


def _occurred_at(raw: object, now: datetime, limits: ReportLimits) -> datetime:
    if raw is None:
        return now
    if not isinstance(raw, str) or len(raw) > 40:
        raise InvalidReport("occurred_at must be an ISO-8601 timestamp", field="occurred_at")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidReport(
            f"occurred_at is not an ISO-8601 timestamp: {raw!r}", field="occurred_at"
        ) from None
    if when.tzinfo is None:
        raise InvalidReport("occurred_at must carry a time zone", field="occurred_at")
    when = when.astimezone(UTC)
    if when > now + limits.max_future:
        raise InvalidReport(
            f"occurred_at {raw} is more than {limits.max_future} ahead of the server clock",
            field="occurred_at",
        )
    if when < now - limits.max_past:
        raise InvalidReport(
            f"occurred_at {raw} is more than {limits.max_past} in the past", field="occurred_at"
        )
    return when


def parse_report(
    raw: object,
    *,
    now: datetime,
    default_key: str | None = None,
    limits: ReportLimits | None = None,
) -> UsageReport:
    """Validate a report as received, naming the first field at fault (SPEC §3).

    ``default_key`` is used when the client sent no idempotency key (plain HTTP callers);
    SDKs always send one so their retries are recognised.
    """
    limits = limits or ReportLimits()
    if not isinstance(raw, dict):
        raise InvalidReport("a usage report must be a JSON object", field="body")
    unknown = sorted(str(k) for k in set(raw) - REPORT_FIELDS)
    if unknown:
        raise InvalidReport(
            f"unknown field(s): {', '.join(unknown)}; allowed are "
            f"{', '.join(sorted(REPORT_FIELDS))}",
            field=unknown[0][:64],
        )
    if "extension_id" not in raw:
        raise InvalidReport("extension_id is required", field="extension_id")
    if "dimensions" not in raw:
        raise InvalidReport("dimensions is required", field="dimensions")
    extension_id = check_extension_id(raw["extension_id"])
    account_raw = raw.get("account")
    account = DEFAULT_ACCOUNT if account_raw is None else check_account(account_raw)
    dimensions = _dimensions(raw["dimensions"])
    key = raw.get("idempotency_key", default_key)
    if key is None:
        raise InvalidReport("idempotency_key is required", field="idempotency_key")
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidReport(
            "idempotency_key must be 1-128 characters from A-Z a-z 0-9 . _ : -",
            field="idempotency_key",
        )
    return UsageReport(
        extension_id=extension_id,
        account=account,
        dimensions=dimensions,
        idempotency_key=key,
        occurred_at=_occurred_at(raw.get("occurred_at"), now, limits),
    )


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One accepted report as the ledger keeps it. Append-only; attribution aside."""

    record_id: int
    extension_id: str
    account: str
    idempotency_key: str
    fingerprint: str
    occurred_at: datetime
    received_at: datetime
    dimensions: Mapping[str, float]
    units_by_dimension: Mapping[str, float]
    units: float
    rates: Mapping[str, float]
    charges: tuple[Charge, ...]
    prev_hash: str
    hash: str
    business_unit_id: str | None = None
    attribution_method: str | None = None
    attribution_rule_id: str | None = None
    attribution_rule_version: int | None = None
    extension_state: str = "OK"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def license_ids(self) -> list[str]:
        return [c.license_id for c in self.charges]


def record_hash(
    *,
    record_id: int,
    extension_id: str,
    account: str,
    idempotency_key: str,
    occurred_at_us: int,
    received_at_us: int,
    dimensions: Mapping[str, float],
    units_by_dimension: Mapping[str, float],
    units: float,
    rates: Mapping[str, float],
    charges: list[dict[str, Any]],
    prev_hash: str,
) -> str:
    """SHA-256 over the record's immutable content and the previous record's hash."""
    body = {
        "record_id": record_id,
        "extension_id": extension_id,
        "account": account,
        "idempotency_key": idempotency_key,
        "occurred_at_us": occurred_at_us,
        "received_at_us": received_at_us,
        "dimensions": dict(dimensions),
        "units_by_dimension": dict(units_by_dimension),
        "units": units,
        "rates": dict(rates),
        "charges": charges,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()
