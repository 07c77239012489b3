"""The use cases, each written once, behind one object that HTTP, NATS and CLI call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from unitledger.adapters.storage.queries import RecordFilter, SqlQueries, iso
from unitledger.domain import (
    LicensePool,
    LicenseStatus,
    Period,
    ReportLimits,
    UsageReport,
    canonical_json,
    from_micros,
    license_status,
    parse_license,
    parse_report,
    to_micros,
)
from unitledger.errors import (
    InvalidLicense,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from unitledger.service.auth import Principal, Role, hash_token, new_token, require
from unitledger.service.batcher import BatchWriter, Done
from unitledger.service.clock_guard import ClockGuard
from unitledger.service.enforcement import Snapshot, evaluate_states, load_pools, snapshot
from unitledger.service.ingest import BatchResult, ReportOutcome, record_batch
from unitledger.service.ports import Clock, Publisher, StateChange, UnitOfWork, UnitOfWorkFactory
from unitledger.service.verify import ChainReport, verify_chain
from unitledger.signing import LICENSE_FORMAT, KeyPair, deployment_id_for, open_envelope

__all__ = ["UnitledgerService", "period_start"]

log = logging.getLogger(__name__)

# Most points one time-series answer holds: about a year of hours or 27 years of days.
MAX_POINTS = 10_000

# Seconds a verified token is remembered (bounds how long a revocation takes on other replicas).
PRINCIPAL_TTL = 5.0

METRICS = (
    "licensing.usage.units",
    "licensing.usage.units_available",
    "licensing.usage.units_remaining",
    "licensing.checks.total",
    "licensing.enforcements.blocked",
)


def period_start(pools: Sequence[LicensePool], now: datetime) -> datetime:
    """Start of the current charging period: the earliest start among valid licenses.

    A term license's period starts at ``valid_from``; a monthly one at the first of
    the current UTC month. With no valid license, the current month.
    """
    month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [
        p.license.valid_from if p.license.period is Period.TERM else month
        for p in pools
        if license_status(p.license, p.pool, now).is_valid
    ]
    return min(starts) if starts else month


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


class UnitledgerService:
    """Every use case of the server. Built by ``bootstrap.build_service``."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        queries: SqlQueries,
        clock: Clock,
        publisher: Publisher,
        identity: KeyPair,
        vendor_keys: list[Ed25519PublicKey],
        limits: ReportLimits,
        batch_max_size: int = 1000,
        batch_max_delay: float = 0.002,
        max_in_flight: int = 20_000,
        tick_seconds: float = 5.0,
        clock_tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock
        self.publisher = publisher
        self.identity = identity
        self.vendor_keys = vendor_keys
        self.limits = limits
        self.tick_seconds = tick_seconds
        self.clock_guard = ClockGuard(clock_tolerance)
        self.writer = BatchWriter(
            self._apply_batch,
            on_committed=self._after_batch,
            max_size=batch_max_size,
            max_delay=batch_max_delay,
            max_in_flight=max_in_flight,
        )
        self._tick_task: asyncio.Task[None] | None = None
        self._principals: dict[str, tuple[Principal, float]] = {}
        # Called after each committed ingest batch (soft-quota checks listen here).
        self.batch_listeners: list[Callable[[BatchResult], Awaitable[None]]] = []
        self.last_snapshot: Snapshot | None = None

    @property
    def deployment_id(self) -> str:
        return deployment_id_for(self.identity.public)

    # -- lifecycle ------------------------------------------------------------
    async def start(self) -> None:
        self.writer.start()
        await self.tick()
        self._tick_task = asyncio.create_task(self._tick_loop(), name="unitledger-enforcement-tick")

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        await self.writer.stop()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("enforcement tick failed")

    async def tick(self) -> list[StateChange]:
        """Re-evaluate time-driven states (licenses entering grace or expiring)."""
        changes = await asyncio.to_thread(self._evaluate)
        await self._publish(changes)
        return changes

    def now(self) -> datetime:
        """The time read paths judge licenses at: never before the latest time seen."""
        return self.clock_guard.effective(self.clock())

    def _evaluate(self) -> list[StateChange]:
        with self.unit_of_work() as uow:
            # Every path that stores enforcement states takes the ledger lock first, so
            # replicas evaluating at once announce each change exactly once.
            uow.lock_head()
            now = self.clock_guard.observe(uow, self.clock())
            pools = load_pools(uow, now, lock=True)
            snap, changes = evaluate_states(uow, pools, now, self.clock_guard.warning)
        self.last_snapshot = snap
        return changes

    async def _publish(self, changes: Sequence[StateChange]) -> None:
        if changes:
            try:
                await self.publisher.publish(changes)
            except Exception:
                log.exception("publishing %d enforcement change(s) failed", len(changes))

    # -- ingest ---------------------------------------------------------------
    def parse(self, raw: object, *, default_key: str | None = None) -> UsageReport:
        return parse_report(raw, now=self.clock(), default_key=default_key, limits=self.limits)

    async def report_usage(
        self, raw: object, principal: Principal, *, default_key: str | None = None
    ) -> ReportOutcome:
        """Validate, authorise and durably record one report; the SPEC §3 use case."""
        report = self.parse(raw, default_key=default_key)
        require(principal, Role.ADMIN, Role.EXTENSION, extension_id=report.extension_id)
        return await self.writer.submit(report)

    async def submit(self, report: UsageReport, principal: Principal) -> ReportOutcome:
        """Record an already-validated report (NATS handlers parse before calling)."""
        require(principal, Role.ADMIN, Role.EXTENSION, extension_id=report.extension_id)
        return await self.writer.submit(report)

    def enqueue(self, report: UsageReport, principal: Principal, done: Done) -> None:
        """Record an already-validated report; ``done`` gets the outcome after commit.

        The callback form of :meth:`submit` for adapters that answer many reports
        without a task each. Authorisation and admission errors are raised at once.
        """
        require(principal, Role.ADMIN, Role.EXTENSION, extension_id=report.extension_id)
        self.writer.enqueue(report, done)

    def _apply_batch(self, reports: Sequence[UsageReport]) -> BatchResult:
        with self.unit_of_work() as uow:
            uow.lock_head()
            now = self.clock_guard.observe(uow, self.clock())
            result = record_batch(uow, reports, now, clock_warning=self.clock_guard.warning)
        self.last_snapshot = result.snapshot
        return result

    async def _after_batch(self, result: BatchResult) -> None:
        await self._publish(result.changes)
        for listener in self.batch_listeners:
            try:
                await listener(result)
            except Exception:
                log.exception("a batch listener failed")

    # -- licenses -------------------------------------------------------------
    def verify_license_file(self, data: bytes | str) -> tuple[dict[str, Any], Any]:
        payload = open_envelope(data, self.vendor_keys, LICENSE_FORMAT)
        license = parse_license(payload)
        if license.deployment_id != self.deployment_id:
            raise InvalidLicense(
                f"license {license.license_id} was issued for deployment "
                f"{license.deployment_id}, but this is {self.deployment_id}",
                field="deployment_id",
            )
        return payload, license

    async def install_license(self, data: bytes | str, principal: Principal) -> dict[str, Any]:
        """Verify and install a signed license file; nothing changes if it is refused."""
        require(principal, Role.ADMIN)
        payload, license = self.verify_license_file(data)
        now = self.now()
        status = license_status(license, None, now)
        if status is LicenseStatus.EXPIRED:
            raise InvalidLicense(
                f"license {license.license_id} expired on {license.expires_at:%Y-%m-%d} and its "
                f"grace period ended on {license.grace_end:%Y-%m-%d}",
                field="expires_at",
            )
        text = data.decode() if isinstance(data, bytes) else data

        def install() -> list[StateChange]:
            with self.unit_of_work() as uow:
                uow.lock_head()
                now = self.clock_guard.observe(uow, self.clock())
                uow.add_license(license, canonical_json(payload), text, now)
                uow.audit(
                    principal.actor,
                    "license.install",
                    license.license_id,
                    json.dumps({"capacity_units": license.capacity_units}),
                    now,
                )
                pools = load_pools(uow, now, lock=True)
                snap, changes = evaluate_states(uow, pools, now, self.clock_guard.warning)
            self.last_snapshot = snap
            return changes

        changes = await asyncio.to_thread(install)
        await self._publish(changes)
        return self.license(license.license_id)

    async def revoke_license(self, license_id: str, principal: Principal) -> dict[str, Any]:
        require(principal, Role.ADMIN)

        def revoke() -> list[StateChange]:
            with self.unit_of_work() as uow:
                uow.lock_head()
                now = self.clock_guard.observe(uow, self.clock())
                uow.revoke_license(license_id, now, principal.actor)
                uow.audit(principal.actor, "license.revoke", license_id, "{}", now)
                pools = load_pools(uow, now, lock=True)
                snap, changes = evaluate_states(uow, pools, now, self.clock_guard.warning)
            self.last_snapshot = snap
            return changes

        changes = await asyncio.to_thread(revoke)
        await self._publish(changes)
        return self.license(license_id)

    def pools(self, now: datetime | None = None) -> list[LicensePool]:
        now = now or self.now()
        with self.unit_of_work_read() as uow:
            return load_pools(uow, now, lock=False)

    def unit_of_work_read(self) -> UnitOfWork:
        """A read-only transaction: it takes no write lock."""
        return self.unit_of_work(write=False)

    def licenses(self) -> list[dict[str, Any]]:
        now = self.now()
        with self.unit_of_work_read() as uow:
            rows = uow.licenses()
            pools = load_pools(uow, now, lock=False)
        by_id = {p.license.license_id: p for p in pools}
        return [license_view(by_id[r.license.license_id], now, r.installed_at) for r in rows]

    def license(self, license_id: str) -> dict[str, Any]:
        for view in self.licenses():
            if view["license_id"] == license_id:
                return view
        raise NotFound(f"no license with id {license_id!r} is installed", field="license_id")

    # -- enforcement and usage ------------------------------------------------
    def snapshot(self) -> tuple[Snapshot, list[LicensePool], datetime]:
        now = self.now()
        with self.unit_of_work_read() as uow:
            pools = load_pools(uow, now, lock=False)
            extensions = uow.extensions()
        snap = snapshot(pools, extensions.values(), now, self.clock_guard.warning)
        return snap, pools, now

    def enforcement(self, viewer: Principal | None = None) -> dict[str, Any]:
        """The global state and per-extension states; an extension token sees only its own."""
        snap, _, now = self.snapshot()
        g = snap.global_
        own = viewer.extension_id if viewer is not None and viewer.role is Role.EXTENSION else None
        return {
            "state": g.state.value,
            "reason": g.reason,
            "available_units": g.available_units,
            "used_units": g.used_units,
            "remaining_units": max(g.remaining_units, 0.0),
            "over_units": max(-g.remaining_units, 0.0),
            "evaluated_at": iso(to_micros(now)),
            "extensions": {
                ext: {"state": state.value, "uncovered_dimensions": list(uncovered)}
                for ext, (state, uncovered) in sorted(snap.extensions.items())
                if own is None or ext == own
            },
        }

    @staticmethod
    def may_see(viewer: Principal, change: StateChange) -> bool:
        """Whether ``viewer`` is told of ``change``: extension tokens hear only the global
        state and their own extension's."""
        return (
            viewer.role is not Role.EXTENSION
            or change.extension_id is None
            or change.extension_id == viewer.extension_id
        )

    def window(
        self,
        start: datetime | None,
        end: datetime | None,
        pools: Sequence[LicensePool],
        now: datetime,
    ) -> Window:
        begin = start or period_start(pools, now)
        finish = end or now + timedelta(microseconds=1)
        if finish <= begin:
            raise ValidationFailed("end must be after start", field="end")
        return Window(begin, finish)

    def summary(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        """Capacity, usage and state, with units per extension and per dimension."""
        snap, pools, now = self.snapshot()
        win = self.window(start, end, pools, now)
        s_us, e_us = to_micros(win.start), to_micros(win.end)
        per_dim = self.queries.units_by(["extension_id", "dimension"], s_us, e_us)
        with self.unit_of_work_read() as uow:
            known = uow.extensions()
        units: dict[str, float] = {}
        for row in per_dim:
            units[row["extension_id"]] = units.get(row["extension_id"], 0.0) + float(row["units"])
        total = sum(units.values())
        g = snap.global_
        extensions = []
        for ext_id in sorted(set(units) | set(known)):
            state, uncovered = snap.extensions.get(ext_id, (g.state, ()))
            known_row = known.get(ext_id)
            extensions.append(
                {
                    "extension_id": ext_id,
                    "units": units.get(ext_id, 0.0),
                    "share": units.get(ext_id, 0.0) / total if total else 0.0,
                    "state": state.value,
                    "uncovered_dimensions": list(uncovered),
                    "last_report_at": iso(known_row.last_report_us) if known_row else None,
                }
            )
        return {
            "state": g.state.value,
            "reason": g.reason,
            "available_units": g.available_units,
            "used_units": g.used_units,
            "remaining_units": max(g.remaining_units, 0.0),
            "over_units": max(-g.remaining_units, 0.0),
            "usage_ratio": g.used_units / g.available_units if g.available_units else None,
            "period_start": iso(to_micros(period_start(pools, now))),
            "window": {"start": iso(s_us), "end": iso(e_us)},
            "window_units": total,
            "extensions": extensions,
            "dimensions": [
                {
                    "extension_id": row["extension_id"],
                    "dimension": row["dimension"],
                    "value": float(row["value"]),
                    "units": float(row["units"]),
                }
                for row in per_dim
            ],
        }

    def timeseries(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        bucket: str = "auto",
        extension_id: str | None = None,
    ) -> dict[str, Any]:
        """Cumulative units per bucket over a window, with the capacity to draw against."""
        snap, pools, now = self.snapshot()
        win = self.window(start, end, pools, now)
        span = win.end - win.start
        if bucket == "auto":
            bucket = (
                "hour"
                if span <= timedelta(days=3)
                else "day"
                if span <= timedelta(days=MAX_POINTS)
                else "week"
            )
        sizes = {"hour": 3600, "day": 86400, "week": 7 * 86400}
        if bucket not in sizes:
            raise ValidationFailed("bucket must be hour, day, week or auto", field="bucket")
        size_us = sizes[bucket] * 1_000_000
        points_wanted = span.total_seconds() / sizes[bucket]
        if points_wanted > MAX_POINTS:
            # Each point is built in memory: an unbounded window would stall the server.
            raise ValidationFailed(
                f"the window holds {points_wanted:,.0f} {bucket} buckets; at most "
                f"{MAX_POINTS:,} — narrow start/end or choose a larger bucket",
                field="end",
            )
        s_us, e_us = to_micros(win.start), to_micros(win.end)
        s_us -= s_us % 3_600_000_000
        # Usage charged before the window, in the current period, starts the cumulative line.
        period = to_micros(period_start(pools, now))
        base = 0.0
        if s_us > period:
            before = self.queries.units_by([], period, s_us, extension_id)
            base = float(before[0]["units"] or 0.0) if before else 0.0
        series = dict(self.queries.units_series(size_us, s_us, e_us, extension_id))
        points = []
        cumulative = base
        cursor = s_us
        while cursor < e_us:
            units = series.get(cursor, 0.0)
            cumulative += units
            points.append({"t": iso(cursor), "units": units, "cumulative": cumulative})
            cursor += size_us
        g = snap.global_
        return {
            "bucket": bucket,
            "start": iso(s_us),
            "end": iso(e_us),
            "capacity_units": g.available_units,
            "warning_units": g.available_units * 0.9,
            "used_units": g.used_units,
            "state": g.state.value,
            "extension_id": extension_id,
            "points": points,
        }

    def records(self, f: RecordFilter, cursor: int | None, limit: int) -> dict[str, Any]:
        items, next_cursor = self.queries.records(f, cursor=cursor, limit=limit)
        return {"items": items, "next_cursor": next_cursor}

    def extensions(self) -> list[dict[str, Any]]:
        summary = self.summary()
        return list(summary["extensions"])

    def metric(self, name: str, extension_id: str | None = None) -> float:
        """The scalar value of one ``licensing.*`` metric, optionally for one extension."""
        if name not in METRICS:
            raise NotFound(f"unknown metric {name!r}; known: {', '.join(METRICS)}", field="name")
        if name in ("licensing.checks.total", "licensing.enforcements.blocked"):
            return float(self.queries.counter(name, extension_id))
        snap, pools, now = self.snapshot()
        g = snap.global_
        if name == "licensing.usage.units":
            if extension_id is None:
                return g.used_units
            start = to_micros(period_start(pools, now))
            rows = self.queries.units_by([], start, None, extension_id)
            return float(rows[0]["units"] or 0.0) if rows else 0.0
        if name == "licensing.usage.units_available":
            return g.available_units
        return g.remaining_units

    # -- quarantine -------------------------------------------------------------
    def quarantine(
        self, status: str | None = "held", extension_id: str | None = None
    ) -> list[dict[str, Any]]:
        return self.queries.quarantine(status, extension_id)

    async def replay_quarantine(
        self, principal: Principal, ids: list[int] | None = None, extension_id: str | None = None
    ) -> dict[str, Any]:
        """Count quarantined reports that a license now covers; the rest stay held."""
        require(principal, Role.ADMIN)
        rows = self.queries.quarantine_rows(ids, extension_id)
        if ids:
            missing = sorted(set(ids) - {r["quarantine_id"] for r in rows})
            if missing:
                raise NotFound(f"no held quarantined report with id(s) {missing}", field="ids")
        reports = [
            UsageReport(
                extension_id=r["extension_id"],
                account=r["account"],
                dimensions=json.loads(r["dimensions"]),
                idempotency_key=r["idempotency_key"],
                occurred_at=from_micros(r["occurred_at_us"]),
            )
            for r in rows
        ]
        if not reports:
            return {"replayed": 0, "still_held": 0, "record_ids": []}
        replay_of = {i: r["quarantine_id"] for i, r in enumerate(rows)}

        def apply() -> BatchResult:
            with self.unit_of_work() as uow:
                uow.lock_head()
                now = self.clock_guard.observe(uow, self.clock())
                return record_batch(
                    uow,
                    reports,
                    now,
                    replay_of=replay_of,
                    clock_warning=self.clock_guard.warning,
                )

        result = await asyncio.to_thread(apply)
        await self._publish(result.changes)
        record_ids = [
            o.record_id for o in result.outcomes if isinstance(o, ReportOutcome) and o.record_id
        ]
        return {
            "replayed": len(record_ids),
            "still_held": len(rows) - len(record_ids),
            "record_ids": record_ids,
        }

    # -- tokens -----------------------------------------------------------------
    def create_token(
        self, role: Role, name: str, extension_id: str | None = None, token: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Create a token; the secret is returned once and only its hash is stored."""
        from unitledger.domain.names import check_extension_id

        if role is Role.EXTENSION:
            if extension_id is None:
                raise ValidationFailed("an extension token needs --extension", field="extension_id")
            check_extension_id(extension_id)
        elif extension_id is not None:
            raise ValidationFailed(
                "only extension tokens are bound to an extension", field="extension_id"
            )
        token_id, secret = new_token()
        if token is not None:
            secret = token
        now = self.clock()
        with self.unit_of_work() as uow:
            uow.add_token(token_id, hash_token(secret), role.value, extension_id, name, now)
            uow.audit("system", "token.create", token_id, json.dumps({"role": role.value}), now)
        return secret, {
            "token_id": token_id,
            "role": role.value,
            "extension_id": extension_id,
            "name": name,
        }

    def revoke_token(self, token_id: str) -> None:
        with self.unit_of_work() as uow:
            if not uow.revoke_token(token_id, self.clock()):
                raise NotFound(f"no active token with id {token_id!r}", field="token_id")
        self._principals.clear()

    def authenticate(self, token: str | None) -> Principal:
        """The caller behind ``token``. Known tokens are remembered for a few seconds so
        the hot reporting path does not query the database per request; a revocation
        takes effect at once on this replica and within ``PRINCIPAL_TTL`` on others."""
        if not token:
            raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._principals.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        row = self.queries.token_by_hash(digest)
        if row is None:
            raise Unauthorized("the API token is not valid (unknown or revoked)")
        principal = Principal(row["token_id"], Role(row["role"]), row["name"], row["extension_id"])
        if len(self._principals) > 10_000:
            self._principals.clear()
        self._principals[digest] = (principal, now + PRINCIPAL_TTL)
        return principal

    def cached_principal(self, token: str) -> Principal | None:
        """The remembered caller for ``token``, without touching the database."""
        cached = self._principals.get(hash_token(token))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def has_admin_token(self) -> bool:
        return any(t["role"] == "admin" and not t["revoked"] for t in self.queries.tokens())

    # -- ledger -----------------------------------------------------------------
    def verify_ledger(self, progress: Callable[[int], None] | None = None) -> ChainReport:
        with self.queries.ledger_snapshot() as (head, rows):
            return verify_chain(rows, head, progress)


def license_view(
    pool: LicensePool, now: datetime, installed_at: datetime | None = None
) -> dict[str, Any]:
    lic = pool.license
    status = license_status(lic, pool.pool, now)
    return {
        "license_id": lic.license_id,
        "customer": lic.customer,
        "deployment_id": lic.deployment_id,
        "status": status.value,
        "issued_at": iso(to_micros(lic.issued_at)),
        "valid_from": iso(to_micros(lic.valid_from)),
        "expires_at": iso(to_micros(lic.expires_at)),
        "grace_days": lic.grace_days,
        "grace_ends_at": iso(to_micros(lic.grace_end)),
        "capacity_units": lic.capacity_units,
        "period": lic.period.value,
        "current_period": pool.pool.period,
        "used_units": pool.pool.used_units,
        "remaining_units": max(lic.capacity_units - pool.pool.used_units, 0.0),
        "over_units": max(pool.pool.used_units - lic.capacity_units, 0.0),
        "rates": {k: dict(v) for k, v in lic.rates.items()},
        "cost": None
        if lic.cost is None
        else {"amount": str(lic.cost.amount), "currency": lic.cost.currency},
        "revoked_at": None if lic.revoked_at is None else iso(to_micros(lic.revoked_at)),
        "installed_at": None if installed_at is None else iso(to_micros(installed_at)),
    }
