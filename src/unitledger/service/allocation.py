"""Allocation reports (served from the rollups) and soft-quota alerts.

A business unit's soft quota is a monthly budget in units (UTC calendar month,
by the time the work occurred). Crossing 90 % and 100 % of it each emits one
event per month: stored (``GET /attribution/alerts``), then handed to the alert
publishers (NATS, webhook). Nothing is ever blocked by a quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from unitledger.domain import License, from_micros, to_micros
from unitledger.domain.allocation import (
    Allocation,
    Bucket,
    Grouping,
    allocate,
    bucket_end,
    cost_rate,
)
from unitledger.errors import ValidationFailed
from unitledger.service.attribution import AttributionService, StoreFactory, iso
from unitledger.service.exports import FocusContext, focus_lines, sign_report
from unitledger.service.ports import Clock
from unitledger.signing import KeyPair, deployment_id_for

__all__ = [
    "QUOTA_SUBJECT",
    "AlertFanout",
    "AlertPublisher",
    "AllocationService",
    "Chargeback",
    "QuotaWatch",
    "ReportQuery",
    "month_window",
]

log = logging.getLogger(__name__)

HOUR_US = 3_600_000_000
QUOTA_SUBJECT = "unitledger.v1.alerts.quota"
THRESHOLDS = (90, 100)


def month_window(now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar month holding ``now``: [first day, first day of the next month)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, from_micros(bucket_end(to_micros(start), Bucket.MONTH))


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What a report covers: window, grouping and filters."""

    start: datetime | None = None
    end: datetime | None = None
    group_by: str = "business_unit"
    bucket: str | None = None
    business_unit_id: str | None = None
    unattributed: bool = False
    extension_id: str | None = None


class AllocationService:
    """Allocation reports for a window, grouped and priced per unit."""

    def __init__(
        self,
        *,
        store: StoreFactory,
        clock: Clock,
        licenses: Callable[[], Sequence[License]],
        identity: KeyPair,
    ) -> None:
        self.store = store
        self.clock = clock
        self.licenses = licenses
        self.identity = identity
        self.deployment_id = deployment_id_for(identity.public)

    def window(self, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        """Whole hours: start rounds down, end rounds up (rollups are hourly). Default: this month."""
        month_start, month_end = month_window(self.clock())
        s_us = to_micros(start or month_start)
        e_us = to_micros(end or month_end)
        s_us -= s_us % HOUR_US
        e_us += (-e_us) % HOUR_US
        if e_us <= s_us:
            raise ValidationFailed("period_end must be after period_start", field="period_end")
        if e_us - s_us > 3700 * 24 * HOUR_US:
            raise ValidationFailed("a report covers at most ten years", field="period_end")
        return s_us, e_us

    def allocation(self, query: ReportQuery) -> Allocation:
        """The report's rows: Unattributed is its own row, and the rows add up to the total."""
        try:
            grouping = Grouping(query.group_by)
        except ValueError:
            raise ValidationFailed(
                f"group_by must be one of {', '.join(g.value for g in Grouping)}", field="group_by"
            ) from None
        bucket = None
        if query.bucket is not None or grouping is Grouping.TIME:
            try:
                bucket = Bucket(query.bucket or "day")
            except ValueError:
                raise ValidationFailed(
                    "bucket must be day, week or month", field="bucket"
                ) from None
        start_us, end_us = self.window(query.start, query.end)
        with self.store(write=False) as s:
            units = s.business_units()
            slices = s.slices(
                start_us,
                end_us,
                by_time=grouping is Grouping.TIME,
                business_unit_id=query.business_unit_id,
                unattributed=query.unattributed,
                extension_id=query.extension_id,
            )
        rate, notes = cost_rate(self.licenses(), from_micros(start_us), from_micros(end_us))
        return allocate(
            slices,
            grouping,
            start_us=start_us,
            end_us=end_us,
            business_units=units,
            rate=rate,
            bucket=bucket,
            notes=notes,
        )

    def report(self, query: ReportQuery) -> dict[str, Any]:
        """The report as JSON-ready data (what the API, exports and signatures carry)."""
        return report_view(self.allocation(query), query, self.deployment_id, self.clock())

    def signed(self, query: ReportQuery) -> str:
        """The report signed with the deployment's identity key (``report verify`` checks it)."""
        return sign_report(self.report(query), self.identity)

    def focus(self, query: ReportQuery) -> Iterator[str]:
        """The window's usage as FOCUS CSV lines: per day, business unit, extension and dimension."""
        start_us, end_us = self.window(query.start, query.end)
        with self.store(write=False) as s:
            units = s.business_units()
            slices = s.slices(
                start_us,
                end_us,
                by_time=True,
                business_unit_id=query.business_unit_id,
                unattributed=query.unattributed,
                extension_id=query.extension_id,
            )
        licenses = sorted(self.licenses(), key=lambda lic: (lic.issued_at, lic.license_id))
        rate, _ = cost_rate(licenses, from_micros(start_us), from_micros(end_us))
        ctx = FocusContext(
            start_us=start_us,
            end_us=end_us,
            deployment_id=self.deployment_id,
            billing_account_name=licenses[-1].customer if licenses else self.deployment_id,
            rate=rate,
            business_units=units,
        )
        return focus_lines(slices, ctx)


def report_view(
    report: Allocation, query: ReportQuery, deployment_id: str, now: datetime
) -> dict[str, Any]:
    rate = report.rate
    return {
        "report": "allocation",
        "version": 1,
        "deployment_id": deployment_id,
        "generated_at": iso(to_micros(now)),
        "period_start": iso(report.start_us),
        "period_end": iso(report.end_us),
        "group_by": report.grouping.value,
        "bucket": report.bucket.value if report.bucket else None,
        "filters": {
            "business_unit_id": query.business_unit_id,
            "unattributed": query.unattributed,
            "extension_id": query.extension_id,
        },
        "currency": rate.currency if rate else None,
        "cost_per_unit": str(rate.cost_per_unit) if rate else None,
        "license_ids": list(rate.license_ids) if rate else [],
        "notes": list(report.notes),
        "total_units": report.total_units,
        "total_amount": float(report.total_amount) if report.total_amount is not None else None,
        "rows": [
            {
                "business_unit_id": row.business_unit_id,
                "business_unit_name": row.business_unit_name,
                "extension_id": row.extension_id,
                "bucket_start": iso(row.bucket_start_us),
                "bucket_end": iso(row.bucket_end_us),
                "units": row.units,
                "share": row.share,
                "amount": float(row.amount) if row.amount is not None else None,
                "soft_quota_units": row.soft_quota_units,
                "quota_used_ratio": row.quota_used_ratio,
                "dimensions": {
                    name: {"value": value, "units": units}
                    for name, (value, units) in row.dimensions.items()
                },
            }
            for row in report.rows
        ],
    }


class AlertPublisher(Protocol):
    """Somewhere quota alerts go: NATS, a webhook."""

    async def publish_alert(self, alert: Mapping[str, Any]) -> None: ...


class AlertFanout:
    """Hands each alert to every publisher; one failing does not stop the others."""

    def __init__(self, *publishers: AlertPublisher) -> None:
        self.publishers = list(publishers)

    def add(self, publisher: AlertPublisher) -> None:
        self.publishers.append(publisher)

    async def publish_alert(self, alert: Mapping[str, Any]) -> None:
        results = await asyncio.gather(
            *(p.publish_alert(alert) for p in self.publishers), return_exceptions=True
        )
        for publisher, result in zip(self.publishers, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("quota alert to %s failed: %s", type(publisher).__name__, result)


def alert_view(row: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    return {
        "v": 1,
        "alert_id": row["alert_id"],
        "business_unit_id": row["business_unit_id"],
        "business_unit_name": name,
        "period": row["period"],
        "threshold_percent": row["threshold_percent"],
        "soft_quota_units": row["soft_quota_units"],
        "used_units": row["used_units"],
        "crossed_at": iso(row["at_us"]),
    }


class QuotaWatch:
    """Checks soft quotas shortly after usage is stored, and emits each crossing once."""

    def __init__(
        self,
        *,
        store: StoreFactory,
        clock: Clock,
        publisher: AlertPublisher,
        min_interval: float = 0.25,
    ) -> None:
        self.store = store
        self.clock = clock
        self.publisher = publisher
        self.min_interval = min_interval
        self._pending: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    def check(self) -> list[dict[str, Any]]:
        """Store crossings of this month's quotas not stored before; returns the new ones."""
        now = self.clock()
        start, end = month_window(now)
        period = f"{start:%Y-%m}"
        with self.store(write=False) as s:
            units = {bu: u for bu, u in s.business_units().items() if u.soft_quota_units}
            used = s.units_by_business_unit(units, to_micros(start), to_micros(end))
        crossed = []
        for bu_id, unit in units.items():
            quota = unit.soft_quota_units or 0.0
            for percent in THRESHOLDS:
                if used.get(bu_id, 0.0) >= quota * percent / 100:
                    crossed.append((bu_id, percent, quota))
        if not crossed:
            return []
        new = []
        with self.store(write=True, lock=False) as s:
            for bu_id, percent, quota in crossed:
                row = {
                    "business_unit_id": bu_id,
                    "period": period,
                    "threshold_percent": percent,
                    "soft_quota_units": quota,
                    "used_units": used[bu_id],
                    "at_us": to_micros(now),
                }
                alert_id = s.add_quota_alert(row)
                if alert_id is not None:
                    new.append(alert_view({**row, "alert_id": alert_id}, units[bu_id].name))
        return new

    async def check_and_publish(self) -> list[dict[str, Any]]:
        alerts = await asyncio.to_thread(self.check)
        for alert in alerts:
            log.info(
                "business unit %s crossed %d%% of its soft quota for %s",
                alert["business_unit_id"],
                alert["threshold_percent"],
                alert["period"],
            )
            task = asyncio.create_task(self.publisher.publish_alert(alert))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)
        return alerts

    def usage_stored(self) -> None:
        """Called after a batch committed: schedule one check (coalescing bursts)."""
        if self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._check_soon())

    async def _check_soon(self) -> None:
        await asyncio.sleep(self.min_interval)
        try:
            await self.check_and_publish()
        except Exception:
            log.exception("soft-quota check failed")

    async def close(self) -> None:
        """Stop the pending check; give in-flight deliveries a moment, then cancel them."""
        tasks = [t for t in (self._pending, *self._publishing) if t is not None]
        if self._pending is not None:
            self._pending.cancel()
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=2)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def alerts(self, limit: int = 100, business_unit_id: str | None = None) -> list[dict[str, Any]]:
        with self.store(write=False) as s:
            rows = s.quota_alerts(limit, business_unit_id)
            names = {bu: u.name for bu, u in s.business_units().items()}
        return [alert_view(r, names.get(r["business_unit_id"])) for r in rows]


@dataclass
class Chargeback:
    """The attribution and allocation surface the HTTP routes use (built by ``bootstrap``)."""

    attribution: AttributionService
    reports: AllocationService
    quotas: QuotaWatch
    alerts: AlertFanout

    async def usage_stored(self, result: object) -> None:
        """Batch listener: new usage may have crossed a soft quota."""
        if getattr(result, "records", 1):
            self.quotas.usage_stored()

    async def close(self) -> None:
        await self.quotas.close()
