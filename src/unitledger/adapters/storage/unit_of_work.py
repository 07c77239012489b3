"""The SQLAlchemy unit of work: one transaction, the ledger's tables behind methods.

Translates between rows and domain types; decides nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, true, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from unitledger.adapters.storage import tables as t
from unitledger.domain import GENESIS_HASH, License, PoolUsage, parse_license, to_micros
from unitledger.domain.usage import from_micros
from unitledger.errors import Conflict, NotFound
from unitledger.service.ports import (
    Attributor,
    ExistingReport,
    ExtensionRow,
    LicenseRow,
    RollupKey,
    StateChange,
    StoredState,
)

if TYPE_CHECKING:
    from unitledger.adapters.storage.attribution import RuleCache

__all__ = ["SqlUnitOfWork", "insert_many", "upsert"]

# SQLite caps bound parameters per statement; keep IN lists well below it.
_CHUNK = 400


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _placeholder(conn: Connection) -> str:
    """The driver's positional placeholder (SQLite qmark, psycopg format)."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise ValueError(f"unsupported DB-API paramstyle {style!r}")


def _driver_sql(conn: Connection, table: Any, columns: Sequence[str], tail: str = "") -> str:
    """``INSERT INTO table (columns) VALUES (...)`` in the driver's own placeholder style."""
    mark = _placeholder(conn)
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks}){tail}"


def _getter(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(columns) == 1:
        name = columns[0]
        return lambda row: (row[name],)
    return itemgetter(*columns)


def insert_many(conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows carrying every column of ``table`` with one driver-level executemany.

    The hot ingest path inserts thousands of rows a second; building SQLAlchemy's
    per-row parameter dicts cost more than SQLite storing them. Rows are taken
    as they are (no SQLAlchemy type processing), so values must already be plain
    str/int/float/None.
    """
    if not rows:
        return
    columns = [c.name for c in table.columns]
    values = _getter(columns)
    conn.exec_driver_sql(_driver_sql(conn, table, columns), [values(r) for r in rows])


def upsert(
    conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], keys: list[str], add: list[str]
) -> None:
    """Insert rows, or add ``add`` columns onto rows that already exist (one statement).

    ``INSERT ... ON CONFLICT (keys) DO UPDATE SET col = table.col + excluded.col`` reads
    the same on SQLite and PostgreSQL; it runs as a driver-level executemany.
    """
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = list(rows[0])
    sets = ", ".join(
        f"{quote(c)} = {quote(table.name)}.{quote(c)} + excluded.{quote(c)}" for c in add
    )
    tail = f" ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {sets}"
    values = itemgetter(*columns)
    conn.exec_driver_sql(_driver_sql(conn, table, columns, tail), [tuple(values(r)) for r in rows])


def rollup_rows(sums: Mapping[RollupKey, Sequence[float]]) -> list[dict[str, Any]]:
    """Rows of the hourly rollup table from [value, units, records] sums per key."""
    return [
        {
            "hour_us": k[0],
            "extension_id": k[1],
            "account": k[2],
            "business_unit_id": k[3],
            "dimension": k[4],
            "value": v[0],
            "units": v[1],
            "records": int(v[2]),
        }
        for k, v in sums.items()
    ]


class SqlUnitOfWork:
    """A transaction on ``engine``; ``write=True`` takes the write lock up front."""

    def __init__(
        self,
        engine: Engine,
        *,
        write: bool = True,
        attributor: Attributor | None = None,
        rules: RuleCache | None = None,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._write = write
        self._attributor = attributor
        self.conn: Connection

    def __enter__(self) -> SqlUnitOfWork:
        conn = self._engine.connect()
        if self._write:
            conn = conn.execution_options(unitledger_write=True)
        self.conn = conn
        conn.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()

    def _for_update(self, stmt: Any) -> Any:
        # SQLite has no row locks; its writer transactions start IMMEDIATE instead.
        return stmt.with_for_update() if self.conn.dialect.name == "postgresql" else stmt

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return self.conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        if self.get_meta(key) is None:
            self.conn.execute(insert(t.meta).values(key=key, value=value))
        else:
            self.conn.execute(update(t.meta).where(t.meta.c.key == key).values(value=value))

    # -- licenses -----------------------------------------------------------
    def licenses(self) -> list[LicenseRow]:
        rows = self.conn.execute(
            select(t.licenses).order_by(t.licenses.c.installed_at_us)
        ).mappings()
        result = []
        for row in rows:
            license = parse_license(json.loads(row["payload"]))
            if row["revoked_at_us"] is not None:
                license = _revoked(license, from_micros(row["revoked_at_us"]))
            result.append(LicenseRow(license, row["envelope"], from_micros(row["installed_at_us"])))
        return result

    def add_license(self, license: License, payload: str, envelope: str, now: datetime) -> None:
        exists = self.conn.execute(
            select(t.licenses.c.revoked_at_us).where(t.licenses.c.license_id == license.license_id)
        ).first()
        if exists is not None:
            if exists[0] is not None:
                raise Conflict(
                    f"license {license.license_id} was revoked and cannot be installed again",
                    field="license_id",
                )
            raise Conflict(f"license {license.license_id} is already installed", field="license_id")
        self.conn.execute(
            insert(t.licenses).values(
                license_id=license.license_id,
                payload=payload,
                envelope=envelope,
                installed_at_us=to_micros(now),
            )
        )

    def revoke_license(self, license_id: str, now: datetime, actor: str) -> None:
        done = self.conn.execute(
            update(t.licenses)
            .where(t.licenses.c.license_id == license_id, t.licenses.c.revoked_at_us.is_(None))
            .values(revoked_at_us=to_micros(now), revoked_by=actor)
        )
        if done.rowcount == 0:
            known = self.conn.execute(
                select(t.licenses.c.license_id).where(t.licenses.c.license_id == license_id)
            ).first()
            if known is None:
                raise NotFound(
                    f"no license with id {license_id!r} is installed", field="license_id"
                )
            raise Conflict(f"license {license_id} is already revoked", field="license_id")

    # -- pools --------------------------------------------------------------
    def pools(
        self, keys: Iterable[tuple[str, str]], *, lock: bool
    ) -> dict[tuple[str, str], PoolUsage]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        stmt = select(t.license_pools).where(
            tuple_(t.license_pools.c.license_id, t.license_pools.c.period).in_(wanted)
        )
        if lock:
            stmt = self._for_update(stmt)
        found = {}
        for row in self.conn.execute(stmt).mappings():
            exhausted = row["exhausted_at_us"]
            found[(row["license_id"], row["period"])] = PoolUsage(
                row["license_id"],
                row["period"],
                row["used_units"],
                None if exhausted is None else from_micros(exhausted),
            )
        return found

    def save_pools(self, pools: Iterable[PoolUsage]) -> None:
        for pool in pools:
            values = {
                "used_units": pool.used_units,
                "exhausted_at_us": None
                if pool.exhausted_at is None
                else to_micros(pool.exhausted_at),
            }
            done = self.conn.execute(
                update(t.license_pools)
                .where(
                    t.license_pools.c.license_id == pool.license_id,
                    t.license_pools.c.period == pool.period,
                )
                .values(**values)
            )
            if done.rowcount == 0:
                self.conn.execute(
                    insert(t.license_pools).values(
                        license_id=pool.license_id, period=pool.period, **values
                    )
                )

    # -- ledger -------------------------------------------------------------
    def lock_head(self) -> tuple[int, str]:
        stmt = self._for_update(
            select(t.ledger_head.c.seq, t.ledger_head.c.hash).where(t.ledger_head.c.id == 1)
        )
        row = self.conn.execute(stmt).first()
        if row is None:
            # First write ever: several replicas may race to create the row, so insert
            # without failing on a conflict, then lock whichever row won.
            dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
            self.conn.execute(
                dialect.insert(t.ledger_head)
                .values(id=1, seq=0, hash=GENESIS_HASH)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            row = self.conn.execute(stmt).one()
        return int(row[0]), str(row[1])

    def save_head(self, seq: int, hash_: str) -> None:
        self.conn.execute(
            update(t.ledger_head).where(t.ledger_head.c.id == 1).values(seq=seq, hash=hash_)
        )

    def existing(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], ExistingReport]:
        # Grouped by extension so both databases look the keys up in the unique
        # (extension_id, idempotency_key) index; SQLite scans the whole table for a
        # row-value IN list.
        by_extension: dict[str, set[str]] = {}
        for extension_id, idempotency_key in keys:
            by_extension.setdefault(extension_id, set()).add(idempotency_key)
        found: dict[tuple[str, str], ExistingReport] = {}
        mark = _placeholder(self.conn)
        quote = self.conn.dialect.identifier_preparer.quote
        # Few statements per batch: each one lets the writer thread lose the GIL.
        groups = [
            (extension_id, chunk)
            for extension_id, wanted in by_extension.items()
            for chunk in _chunks(sorted(wanted))
        ]
        # At most 10 x 400 keys per statement: below both databases' parameter limits.
        for part in _chunks(groups, 10):
            for table, kind in ((t.usage_records, "record"), (t.quarantine, "quarantine")):
                # Driver-level: SQLAlchemy's expanding IN cost more than the lookups.
                columns = [c.name for c in table.columns]
                select_sql = (
                    f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} "
                    f"WHERE extension_id = {mark} AND idempotency_key IN "
                )
                sql = " UNION ALL ".join(
                    f"{select_sql}({', '.join([mark] * len(chunk))})" for _, chunk in part
                )
                params = tuple(v for extension_id, chunk in part for v in (extension_id, *chunk))
                for values in self.conn.exec_driver_sql(sql, params):
                    row = dict(zip(columns, values, strict=True))
                    key = (row["extension_id"], row["idempotency_key"])
                    # A replayed quarantined report also has a record; the record wins.
                    if kind == "record" or key not in found:
                        found[key] = ExistingReport(kind, row["fingerprint"], row)
        return found

    def insert_records(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_many(self.conn, t.usage_records, rows)

    def add_rollups(self, sums: Mapping[RollupKey, Sequence[float]]) -> None:
        keys = ["hour_us", "extension_id", "account", "business_unit_id", "dimension"]
        hourly = rollup_rows(sums)
        upsert(self.conn, t.usage_rollups, hourly, keys, ["value", "units", "records"])
        # Imported here: the attribution adapter builds on this module.
        from unitledger.adapters.storage.attribution import add_daily_rollups

        add_daily_rollups(self.conn, hourly)

    def insert_quarantine(self, row: dict[str, Any]) -> int:
        result = self.conn.execute(
            insert(t.quarantine).values(**row).returning(t.quarantine.c.quarantine_id)
        )
        return int(result.scalar_one())

    def mark_replayed(self, quarantine_id: int, record_id: int) -> None:
        self.conn.execute(
            update(t.quarantine)
            .where(t.quarantine.c.quarantine_id == quarantine_id)
            .values(status="replayed", record_id=record_id)
        )

    # -- extensions and states ---------------------------------------------
    def extensions(self, ids: Iterable[str] | None = None) -> dict[str, ExtensionRow]:
        stmt = select(t.extensions)
        if ids is not None:
            wanted = list(set(ids))
            if not wanted:
                return {}
            stmt = stmt.where(t.extensions.c.extension_id.in_(wanted))
        return {
            row["extension_id"]: ExtensionRow(
                row["extension_id"],
                row["first_seen_us"],
                row["last_report_us"],
                tuple(json.loads(row["uncovered"])),
                row["reports"],
            )
            for row in self.conn.execute(stmt).mappings()
        }

    def save_extensions(self, rows: Iterable[ExtensionRow]) -> None:
        # One driver-level statement: insert new extensions, overwrite the rest
        # (first_seen_us is kept from the first insert).
        values = [
            (
                row.extension_id,
                row.first_seen_us,
                row.last_report_us,
                json.dumps(sorted(row.uncovered)),
                row.reports,
            )
            for row in rows
        ]
        if not values:
            return
        columns = ["extension_id", "first_seen_us", "last_report_us", "uncovered", "reports"]
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        tail = f" ON CONFLICT (extension_id) DO UPDATE SET {sets}"
        self.conn.exec_driver_sql(_driver_sql(self.conn, t.extensions, columns, tail), values)

    def states(self) -> dict[str, StoredState]:
        rows = self.conn.execute(select(t.enforcement_states)).mappings()
        return {r["scope"]: StoredState(r["state"], r["reason"], r["seq"]) for r in rows}

    def save_states(self, changes: Sequence[StateChange]) -> None:
        for change in changes:
            values = {
                "state": change.state,
                "reason": change.reason,
                "changed_at_us": to_micros(change.changed_at),
                "seq": change.seq,
            }
            if change.previous is None and change.seq == 1:
                self.conn.execute(insert(t.enforcement_states).values(scope=change.key, **values))
            else:
                self.conn.execute(
                    update(t.enforcement_states)
                    .where(t.enforcement_states.c.scope == change.key)
                    .values(**values)
                )
            self.conn.execute(
                insert(t.enforcement_events).values(
                    at_us=to_micros(change.changed_at),
                    scope=change.key,
                    state=change.state,
                    previous=change.previous,
                    reason=change.reason,
                )
            )

    def add_counters(self, deltas: Mapping[tuple[str, str], int]) -> None:
        rows = [{"name": n, "extension_id": e, "value": v} for (n, e), v in deltas.items() if v]
        upsert(self.conn, t.counters, rows, ["name", "extension_id"], ["value"])

    def counters(self, name: str, extension_id: str | None = None) -> int:
        stmt = select(func.coalesce(func.sum(t.counters.c.value), 0)).where(
            t.counters.c.name == name
        )
        if extension_id is not None:
            stmt = stmt.where(t.counters.c.extension_id == extension_id)
        return int(self.conn.execute(stmt).scalar_one())

    def add_token(
        self,
        token_id: str,
        token_hash: str,
        role: str,
        extension_id: str | None,
        name: str,
        now: datetime,
    ) -> None:
        self.conn.execute(
            insert(t.api_tokens).values(
                token_id=token_id,
                token_hash=token_hash,
                role=role,
                extension_id=extension_id,
                name=name,
                created_at_us=to_micros(now),
            )
        )

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        done = self.conn.execute(
            update(t.api_tokens)
            .where(t.api_tokens.c.token_id == token_id, t.api_tokens.c.revoked_at_us.is_(None))
            .values(revoked_at_us=to_micros(now))
        )
        return bool(done.rowcount)

    def attributor(self) -> Attributor:
        """The attribution rules as of this transaction (cached while their version holds)."""
        if self._attributor is not None:
            return self._attributor
        from unitledger.adapters.storage.attribution import load_attributor

        return load_attributor(self.conn, self._rules)

    def audit(self, actor: str, action: str, subject: str, detail: str, now: datetime) -> None:
        self.conn.execute(
            insert(t.audit_log).values(
                at_us=to_micros(now), actor=actor, action=action, subject=subject, detail=detail
            )
        )


def _revoked(license: License, at: datetime) -> License:
    from dataclasses import replace

    return replace(license, revoked_at=at)


def time_window(column: Any, start_us: int | None, end_us: int | None) -> Any:
    """A WHERE clause for ``start <= column < end``, either bound optional."""
    clauses = []
    if start_us is not None:
        clauses.append(column >= start_us)
    if end_us is not None:
        clauses.append(column < end_us)
    return and_(true(), *clauses)
