"""Read-side queries: records, rollup aggregates, quarantine, extensions, tokens.

Aggregates read the hourly rollups, never the raw records, so they stay fast at
tens of millions of records.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, desc, func, select

from unitledger.adapters.storage import tables as t
from unitledger.adapters.storage.unit_of_work import time_window
from unitledger.domain.usage import from_micros

__all__ = ["RecordFilter", "SqlQueries"]

HOUR_US = 3_600_000_000


def iso(micros: int | None) -> str | None:
    if micros is None:
        return None
    return from_micros(micros).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RecordFilter:
    extension_id: str | None = None
    account: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    business_unit_id: str | None = None
    unattributed: bool = False


def record_view(row: Any) -> dict[str, Any]:
    charges = json.loads(row["charges"])
    return {
        "record_id": row["record_id"],
        "extension_id": row["extension_id"],
        "account": row["account"],
        "idempotency_key": row["idempotency_key"],
        "occurred_at": iso(row["occurred_at_us"]),
        "received_at": iso(row["received_at_us"]),
        "dimensions": json.loads(row["dimensions"]),
        "units_by_dimension": json.loads(row["units_by_dimension"]),
        "units": row["units"],
        "rates": json.loads(row["rates"]),
        "charges": charges,
        "license_ids": [c["license_id"] for c in charges],
        "extension_state": row["extension_state"],
        "business_unit_id": row["business_unit_id"],
        "attribution_method": row["attribution_method"],
        "attribution_rule_id": row["attribution_rule_id"],
        "attribution_rule_version": row["attribution_rule_version"],
        "hash": row["hash"],
    }


def record_filter_clause(f: RecordFilter) -> list[Any]:
    r = t.usage_records.c
    clauses: list[Any] = [time_window(r.occurred_at_us, f.start_us, f.end_us)]
    if f.extension_id:
        clauses.append(r.extension_id == f.extension_id)
    if f.account:
        clauses.append(r.account == f.account)
    if f.business_unit_id:
        clauses.append(r.business_unit_id == f.business_unit_id)
    if f.unattributed:
        clauses.append(r.business_unit_id.is_(None))
    return clauses


class SqlQueries:
    """Read-only queries; each opens its own short read transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def records(
        self, f: RecordFilter, *, cursor: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        r = t.usage_records.c
        stmt = select(t.usage_records).where(*record_filter_clause(f))
        if cursor is not None:
            stmt = stmt.where(r.record_id < cursor)
        stmt = stmt.order_by(desc(r.record_id)).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = [record_view(row) for row in conn.execute(stmt).mappings()]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1]["record_id"] if more and rows else None)

    def record(self, record_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(t.usage_records).where(t.usage_records.c.record_id == record_id)
                )
                .mappings()
                .first()
            )
        return None if row is None else record_view(row)

    def units_by(
        self,
        columns: list[str],
        start_us: int | None,
        end_us: int | None,
        extension_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Sum rollup units and values grouped by ``columns`` over a window."""
        u = t.usage_rollups.c
        cols = [u[c] for c in columns]
        stmt = (
            select(
                *cols,
                func.sum(u.units).label("units"),
                func.sum(u.value).label("value"),
                func.sum(u.records).label("records"),
            )
            .where(time_window(u.hour_us, _floor(start_us), end_us))
            .group_by(*cols)
            .order_by(*cols)
        )
        if extension_id:
            stmt = stmt.where(u.extension_id == extension_id)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def units_series(
        self, bucket_us: int, start_us: int, end_us: int, extension_id: str | None = None
    ) -> list[tuple[int, float]]:
        """Units per bucket (bucket start, units), from the hourly rollups."""
        u = t.usage_rollups.c
        bucket = (u.hour_us - (u.hour_us - start_us) % bucket_us).label("bucket")
        stmt = (
            select(bucket, func.sum(u.units))
            .where(u.hour_us >= _floor(start_us), u.hour_us < end_us)
            .group_by(bucket)
            .order_by(bucket)
        )
        if extension_id:
            stmt = stmt.where(u.extension_id == extension_id)
        with self.engine.connect() as conn:
            return [(int(b), float(s)) for b, s in conn.execute(stmt)]

    def quarantine(
        self, status: str | None, extension_id: str | None, limit: int = 500
    ) -> list[dict[str, Any]]:
        q = t.quarantine.c
        stmt = select(t.quarantine).order_by(desc(q.quarantine_id)).limit(limit)
        if status:
            stmt = stmt.where(q.status == status)
        if extension_id:
            stmt = stmt.where(q.extension_id == extension_id)
        with self.engine.connect() as conn:
            return [
                {
                    "quarantine_id": row["quarantine_id"],
                    "extension_id": row["extension_id"],
                    "account": row["account"],
                    "idempotency_key": row["idempotency_key"],
                    "occurred_at": iso(row["occurred_at_us"]),
                    "received_at": iso(row["received_at_us"]),
                    "dimensions": json.loads(row["dimensions"]),
                    "uncovered_dimensions": json.loads(row["uncovered"]),
                    "reason": row["reason"],
                    "status": row["status"],
                    "record_id": row["record_id"],
                }
                for row in conn.execute(stmt).mappings()
            ]

    def quarantine_rows(
        self, ids: list[int] | None, extension_id: str | None
    ) -> list[dict[str, Any]]:
        q = t.quarantine.c
        stmt = select(t.quarantine).where(q.status == "held").order_by(q.quarantine_id)
        if ids:
            stmt = stmt.where(q.quarantine_id.in_(ids))
        if extension_id:
            stmt = stmt.where(q.extension_id == extension_id)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def counter(self, name: str, extension_id: str | None = None) -> int:
        c = t.counters.c
        stmt = select(func.coalesce(func.sum(c.value), 0)).where(c.name == name)
        if extension_id is not None:
            stmt = stmt.where(c.extension_id == extension_id)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def counters_by_extension(self, name: str) -> dict[str, int]:
        c = t.counters.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.extension_id, c.value).where(c.name == name))
            return {ext: int(value) for ext, value in rows}

    def tokens(self) -> list[dict[str, Any]]:
        k = t.api_tokens.c
        stmt = select(k.token_id, k.role, k.extension_id, k.name, k.created_at_us, k.revoked_at_us)
        with self.engine.connect() as conn:
            return [
                {
                    "token_id": row["token_id"],
                    "role": row["role"],
                    "extension_id": row["extension_id"],
                    "name": row["name"],
                    "created_at": iso(row["created_at_us"]),
                    "revoked": row["revoked_at_us"] is not None,
                }
                for row in conn.execute(stmt.order_by(k.created_at_us)).mappings()
            ]

    def token_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        k = t.api_tokens.c
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(t.api_tokens).where(
                        k.token_hash == token_hash, k.revoked_at_us.is_(None)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    @contextlib.contextmanager
    def ledger_snapshot(
        self, batch: int = 5000
    ) -> Iterator[tuple[tuple[int, str] | None, Iterator[Any]]]:
        """The chain head and every record in chain order, read from one snapshot.

        ``ledger verify`` runs while reports are being written: reading the head and
        the pages of records in separate transactions would see a head older or newer
        than the rows and report a broken chain that is not broken.
        """
        r = t.usage_records.c
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                found = conn.execute(select(t.ledger_head.c.seq, t.ledger_head.c.hash)).first()
                head = None if found is None else (int(found[0]), str(found[1]))

                def rows() -> Iterator[Any]:
                    last = 0
                    while True:
                        page = list(
                            conn.execute(
                                select(t.usage_records)
                                .where(r.record_id > last)
                                .order_by(r.record_id)
                                .limit(batch)
                            ).mappings()
                        )
                        if not page:
                            return
                        yield from page
                        last = page[-1]["record_id"]

                yield head, rows()

    def ledger_head(self) -> tuple[int, str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.ledger_head.c.seq, t.ledger_head.c.hash)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def audit(self, action_prefix: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        a = t.audit_log.c
        stmt = select(t.audit_log).order_by(desc(a.audit_id)).limit(limit)
        if action_prefix:
            stmt = stmt.where(a.action.startswith(action_prefix))
        with self.engine.connect() as conn:
            return [{**dict(row), "at": iso(row["at_us"])} for row in conn.execute(stmt).mappings()]

    def enforcement_events(self, limit: int = 200) -> list[dict[str, Any]]:
        e = t.enforcement_events.c
        stmt = select(t.enforcement_events).order_by(desc(e.event_id)).limit(limit)
        with self.engine.connect() as conn:
            return [
                {
                    "event_id": row["event_id"],
                    "at": iso(row["at_us"]),
                    "scope": row["scope"],
                    "state": row["state"],
                    "previous_state": row["previous"],
                    "reason": row["reason"],
                }
                for row in conn.execute(stmt).mappings()
            ]


def _floor(start_us: int | None) -> int | None:
    """Rollups are keyed by hour start; include the hour a window starts in."""
    return None if start_us is None else start_us - start_us % HOUR_US
