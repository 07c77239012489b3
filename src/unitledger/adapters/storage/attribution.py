"""Attribution storage: business units, rules, re-attribution of records, report slices.

Translates rows to domain types and back. Moving records between business units
(manual attribution, re-applying rules, deleting a unit) also moves their units
between the rollup keys in the same transaction, so reports stay exact.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from unitledger.adapters.storage import tables as t
from unitledger.adapters.storage.unit_of_work import SqlUnitOfWork, rollup_rows, upsert
from unitledger.domain.allocation import UsageSlice
from unitledger.domain.attribution import AttributionRule, BusinessUnit
from unitledger.errors import Conflict, NotFound
from unitledger.service.attribution import (
    RULES_VERSION_KEY,
    Reattribution,
    RecordAttribution,
    RecordSelection,
    RulesAttributor,
)

__all__ = ["RuleCache", "SqlAttributionStore", "add_daily_rollups", "load_attributor"]

HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
_PAGE = 2000
_CHUNK = 400


def add_daily_rollups(conn: Connection, hourly: Sequence[Mapping[str, Any]]) -> None:
    """Add hourly rollup rows onto the daily (extension, business unit, dimension) rollups."""
    daily: dict[tuple[int, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for row in hourly:
        key = (
            row["hour_us"] - row["hour_us"] % DAY_US,
            row["extension_id"],
            row["business_unit_id"],
            row["dimension"],
        )
        acc = daily[key]
        acc[0] += row["value"]
        acc[1] += row["units"]
        acc[2] += row["records"]
    rows = [
        {
            "day_us": k[0],
            "extension_id": k[1],
            "business_unit_id": k[2],
            "dimension": k[3],
            "value": v[0],
            "units": v[1],
            "records": int(v[2]),
        }
        for k, v in daily.items()
    ]
    upsert(
        conn,
        t.usage_rollups_daily,
        rows,
        ["day_us", "extension_id", "business_unit_id", "dimension"],
        ["value", "units", "records"],
    )


def rules_version(conn: Connection) -> int:
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == RULES_VERSION_KEY)).scalar()
    return int(value) if value is not None else 0


def _rule(row: Any) -> AttributionRule:
    return AttributionRule(
        rule_id=row["rule_id"],
        extension_pattern=row["extension_pattern"],
        account_pattern=row["account_pattern"],
        business_unit_id=row["business_unit_id"],
        priority=row["priority"],
        description=row["description"],
        version=row["version"],
        created_at_us=row["created_at_us"],
    )


def _unit(row: Any) -> BusinessUnit:
    return BusinessUnit(
        business_unit_id=row["business_unit_id"],
        name=row["name"],
        description=row["description"],
        contact_email=row["contact_email"],
        soft_quota_units=row["soft_quota_units"],
    )


class RuleCache:
    """The last loaded rule set, reused while the stored rules version is unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: RulesAttributor | None = None

    def get(self, conn: Connection) -> RulesAttributor:
        version = rules_version(conn)
        current = self._current
        if current is not None and current.version == version:
            return current
        loaded = RulesAttributor(
            [_rule(r) for r in conn.execute(select(t.attribution_rules)).mappings()], version
        )
        with self._lock:
            self._current = loaded
        return loaded


def load_attributor(conn: Connection, cache: RuleCache | None) -> RulesAttributor:
    """The rules as of this transaction (the writer's, so no rule change can slip between)."""
    if cache is not None:
        return cache.get(conn)
    return RulesAttributor(
        [_rule(r) for r in conn.execute(select(t.attribution_rules)).mappings()],
        rules_version(conn),
    )


@dataclass(slots=True)
class _Row:
    record_id: int
    extension_id: str
    account: str
    occurred_at_us: int
    dimensions: dict[str, float]
    units_by_dimension: dict[str, float]
    units: float
    current: RecordAttribution


def _selection_clauses(sel: RecordSelection) -> list[Any]:
    r = t.usage_records.c
    clauses: list[Any] = []
    if sel.record_ids is not None:
        clauses.append(r.record_id.in_(list(sel.record_ids)))
    if sel.extension_id:
        clauses.append(r.extension_id == sel.extension_id)
    if sel.account:
        clauses.append(r.account == sel.account)
    if sel.start_us is not None:
        clauses.append(r.occurred_at_us >= sel.start_us)
    if sel.end_us is not None:
        clauses.append(r.occurred_at_us < sel.end_us)
    if sel.unattributed:
        clauses.append(r.business_unit_id.is_(None))
    if sel.business_unit_id:
        clauses.append(r.business_unit_id == sel.business_unit_id)
    if sel.method == "manual":
        clauses.append(r.attribution_method == "manual")
    elif sel.method == "not_manual":
        clauses.append((r.attribution_method.is_(None)) | (r.attribution_method != "manual"))
    return clauses


class SqlAttributionStore:
    """One transaction over the attribution tables (``write=True`` takes the writer lock)."""

    def __init__(self, engine: Engine, *, write: bool = True, lock: bool = True) -> None:
        self._uow = SqlUnitOfWork(engine, write=write)
        self._lock = write and lock
        self.conn: Connection

    def __enter__(self) -> SqlAttributionStore:
        self._uow.__enter__()
        self.conn = self._uow.conn
        if self._lock:
            # Serialise with ingest and other re-attributions: records are read, then moved.
            self._uow.lock_head()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._uow.__exit__(*exc)

    # -- business units ------------------------------------------------------
    def business_units(self) -> dict[str, BusinessUnit]:
        stmt = select(t.business_units).order_by(t.business_units.c.name)
        return {r["business_unit_id"]: _unit(r) for r in self.conn.execute(stmt).mappings()}

    def business_unit_rows(self) -> list[dict[str, Any]]:
        stmt = select(t.business_units).order_by(t.business_units.c.name)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def business_unit_row(self, business_unit_id: str) -> dict[str, Any]:
        row = (
            self.conn.execute(
                select(t.business_units).where(
                    t.business_units.c.business_unit_id == business_unit_id
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(
                f"no business unit with id {business_unit_id!r}", field="business_unit_id"
            )
        return dict(row)

    def add_business_unit(self, unit: BusinessUnit, now_us: int) -> None:
        exists = self.conn.execute(
            select(t.business_units.c.business_unit_id).where(
                t.business_units.c.business_unit_id == unit.business_unit_id
            )
        ).first()
        if exists is not None:
            raise Conflict(
                f"a business unit with id {unit.business_unit_id!r} already exists; pick another "
                "business_unit_id",
                field="business_unit_id",
            )
        self.conn.execute(
            insert(t.business_units).values(
                **asdict(unit), created_at_us=now_us, updated_at_us=now_us
            )
        )

    def save_business_unit(self, unit: BusinessUnit, now_us: int) -> None:
        values = asdict(unit)
        bu_id = values.pop("business_unit_id")
        done = self.conn.execute(
            update(t.business_units)
            .where(t.business_units.c.business_unit_id == bu_id)
            .values(**values, updated_at_us=now_us)
        )
        if done.rowcount == 0:
            raise NotFound(f"no business unit with id {bu_id!r}", field="business_unit_id")

    def delete_business_unit(self, business_unit_id: str) -> list[AttributionRule]:
        """Delete a unit and its rules; returns the rules that went with it."""
        rules = [r for r in self.rules() if r.business_unit_id == business_unit_id]
        self.conn.execute(
            delete(t.attribution_rules).where(
                t.attribution_rules.c.business_unit_id == business_unit_id
            )
        )
        done = self.conn.execute(
            delete(t.business_units).where(t.business_units.c.business_unit_id == business_unit_id)
        )
        if done.rowcount == 0:
            raise NotFound(
                f"no business unit with id {business_unit_id!r}", field="business_unit_id"
            )
        return rules

    # -- rules ---------------------------------------------------------------
    def rules(self) -> list[AttributionRule]:
        return [_rule(r) for r in self.conn.execute(select(t.attribution_rules)).mappings()]

    def rule(self, rule_id: str) -> AttributionRule:
        row = (
            self.conn.execute(
                select(t.attribution_rules).where(t.attribution_rules.c.rule_id == rule_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no attribution rule with id {rule_id!r}", field="rule_id")
        return _rule(row)

    def rule_updated_at(self) -> dict[str, int]:
        rows = self.conn.execute(
            select(t.attribution_rules.c.rule_id, t.attribution_rules.c.updated_at_us)
        )
        return {rule_id: int(at) for rule_id, at in rows}

    def save_rule(self, rule: AttributionRule, *, now_us: int, actor: str, change: str) -> None:
        """Insert or update ``rule`` and keep its version in the history."""
        values = asdict(rule)
        if change == "create":
            self.conn.execute(insert(t.attribution_rules).values(**values, updated_at_us=now_us))
        else:
            self.conn.execute(
                update(t.attribution_rules)
                .where(t.attribution_rules.c.rule_id == rule.rule_id)
                .values(**values, updated_at_us=now_us)
            )
        self._history(rule, now_us, actor, change)

    def delete_rule(self, rule: AttributionRule, *, now_us: int, actor: str) -> None:
        self.conn.execute(
            delete(t.attribution_rules).where(t.attribution_rules.c.rule_id == rule.rule_id)
        )
        self._history(rule, now_us, actor, "delete")

    def _history(self, rule: AttributionRule, now_us: int, actor: str, change: str) -> None:
        self.conn.execute(
            insert(t.attribution_rule_versions).values(
                rule_id=rule.rule_id,
                version=rule.version,
                rule=json.dumps(asdict(rule), sort_keys=True),
                changed_at_us=now_us,
                changed_by=actor,
                change=change,
            )
        )

    def rule_versions(self, rule_id: str) -> list[dict[str, Any]]:
        v = t.attribution_rule_versions.c
        stmt = select(t.attribution_rule_versions).where(v.rule_id == rule_id).order_by(v.version)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    def bump_rules_version(self) -> int:
        version = rules_version(self.conn) + 1
        done = self.conn.execute(
            update(t.meta).where(t.meta.c.key == RULES_VERSION_KEY).values(value=str(version))
        )
        if done.rowcount == 0:
            self.conn.execute(insert(t.meta).values(key=RULES_VERSION_KEY, value=str(version)))
        return version

    def rules_version(self) -> int:
        return rules_version(self.conn)

    # -- re-attribution ------------------------------------------------------
    def _pages(self, sel: RecordSelection) -> Iterator[list[_Row]]:
        r = t.usage_records.c
        cols = [
            r.record_id,
            r.extension_id,
            r.account,
            r.occurred_at_us,
            r.dimensions,
            r.units_by_dimension,
            r.units,
            r.business_unit_id,
            r.attribution_method,
            r.attribution_rule_id,
            r.attribution_rule_version,
        ]
        clauses = _selection_clauses(sel)
        last = -1
        while True:
            stmt = (
                select(*cols).where(*clauses, r.record_id > last).order_by(r.record_id).limit(_PAGE)
            )
            page = [
                _Row(
                    row.record_id,
                    row.extension_id,
                    row.account,
                    row.occurred_at_us,
                    json.loads(row.dimensions),
                    json.loads(row.units_by_dimension),
                    row.units,
                    RecordAttribution(
                        row.business_unit_id,
                        row.attribution_method,
                        row.attribution_rule_id,
                        row.attribution_rule_version,
                    ),
                )
                for row in self.conn.execute(stmt)
            ]
            if not page:
                return
            yield page
            last = page[-1].record_id

    def reattribute(
        self,
        sel: RecordSelection,
        decide: Callable[[str, str, RecordAttribution], RecordAttribution | None],
        *,
        apply: bool,
    ) -> Reattribution:
        """Give each selected record the attribution ``decide`` returns (None: leave it).

        With ``apply`` False nothing is written: the result previews the moves.
        """
        result = Reattribution()
        for page in self._pages(sel):
            result.matched += len(page)
            changes: dict[RecordAttribution, list[int]] = defaultdict(list)
            hourly: dict[tuple[int, str, str, str, str], list[float]] = defaultdict(
                lambda: [0.0, 0.0, 0]
            )
            for row in page:
                target = decide(row.extension_id, row.account, row.current)
                if target is None or target == row.current:
                    continue
                result.add(row.current.business_unit_id, target.business_unit_id, row.units)
                changes[target].append(row.record_id)
                if target.business_unit_id == row.current.business_unit_id:
                    continue
                hour = row.occurred_at_us - row.occurred_at_us % HOUR_US
                for dim, value in row.dimensions.items():
                    units = row.units_by_dimension.get(dim, 0.0)
                    old = hourly[
                        (
                            hour,
                            row.extension_id,
                            row.account,
                            row.current.business_unit_id or "",
                            dim,
                        )
                    ]
                    new = hourly[
                        (hour, row.extension_id, row.account, target.business_unit_id or "", dim)
                    ]
                    old[0] -= value
                    old[1] -= units
                    old[2] -= 1
                    new[0] += value
                    new[1] += units
                    new[2] += 1
            if apply:
                self._update_records(changes)
                self._move_rollups(hourly)
        return result

    def _update_records(self, changes: Mapping[RecordAttribution, list[int]]) -> None:
        r = t.usage_records.c
        for target, ids in changes.items():
            for start in range(0, len(ids), _CHUNK):
                self.conn.execute(
                    update(t.usage_records)
                    .where(r.record_id.in_(ids[start : start + _CHUNK]))
                    .values(
                        business_unit_id=target.business_unit_id,
                        attribution_method=target.method,
                        attribution_rule_id=target.rule_id,
                        attribution_rule_version=target.rule_version,
                    )
                )

    def _move_rollups(self, hourly: Mapping[tuple[int, str, str, str, str], list[float]]) -> None:
        rows = [row for row in rollup_rows(hourly) if row["records"] != 0]
        if not rows:
            return
        upsert(
            self.conn,
            t.usage_rollups,
            rows,
            ["hour_us", "extension_id", "account", "business_unit_id", "dimension"],
            ["value", "units", "records"],
        )
        add_daily_rollups(self.conn, rows)
        # A key whose last record moved away is removed, not left at (almost) zero.
        h, d = t.usage_rollups.c, t.usage_rollups_daily.c
        emptied = [r for r in rows if r["records"] < 0]
        hour_keys = [
            (r["hour_us"], r["extension_id"], r["account"], r["business_unit_id"], r["dimension"])
            for r in emptied
        ]
        day_keys = list(
            {
                (
                    r["hour_us"] - r["hour_us"] % DAY_US,
                    r["extension_id"],
                    r["business_unit_id"],
                    r["dimension"],
                )
                for r in emptied
            }
        )
        for start in range(0, len(hour_keys), _CHUNK // 5):
            chunk = hour_keys[start : start + _CHUNK // 5]
            self.conn.execute(
                delete(t.usage_rollups).where(
                    tuple_(
                        h.hour_us, h.extension_id, h.account, h.business_unit_id, h.dimension
                    ).in_(chunk),
                    h.records <= 0,
                )
            )
        for start in range(0, len(day_keys), _CHUNK // 4):
            self.conn.execute(
                delete(t.usage_rollups_daily).where(
                    tuple_(d.day_us, d.extension_id, d.business_unit_id, d.dimension).in_(
                        day_keys[start : start + _CHUNK // 4]
                    ),
                    d.records <= 0,
                )
            )

    # -- audit ---------------------------------------------------------------
    def add_audit(
        self,
        *,
        at_us: int,
        actor: str,
        action: str,
        to_business_unit_id: str | None,
        result: Reattribution,
        selection: Mapping[str, Any],
    ) -> int:
        inserted = self.conn.execute(
            insert(t.attribution_audit)
            .values(
                at_us=at_us,
                actor=actor,
                action=action,
                to_business_unit_id=to_business_unit_id,
                records=result.changed,
                units=result.units,
                moves=json.dumps(result.moves_list(), sort_keys=True),
                selection=json.dumps(dict(selection), sort_keys=True),
            )
            .returning(t.attribution_audit.c.audit_id)
        )
        return int(inserted.scalar_one())

    def audit(self, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        a = t.attribution_audit.c
        stmt = select(t.attribution_audit).order_by(a.audit_id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(a.audit_id < before)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]

    # -- reports and quotas --------------------------------------------------
    def slices(
        self,
        start_us: int,
        end_us: int,
        *,
        by_time: bool,
        business_unit_id: str | None = None,
        unattributed: bool = False,
        extension_id: str | None = None,
    ) -> list[UsageSlice]:
        """Units per (business unit, extension, dimension[, day or hour]) in ``[start, end)``.

        Whole days come from the daily rollups, the hours before the first and after
        the last whole day from the hourly ones. Bounds must be whole hours.
        """
        first_day = -(-start_us // DAY_US) * DAY_US
        last_day = end_us // DAY_US * DAY_US
        parts: list[tuple[Any, Any, int, int]] = []
        if first_day < last_day:
            parts.append(
                (t.usage_rollups_daily, t.usage_rollups_daily.c.day_us, first_day, last_day)
            )
            hourly = [(start_us, first_day), (last_day, end_us)]
        else:
            hourly = [(start_us, end_us)]
        for lo, hi in hourly:
            if lo < hi:
                parts.append((t.usage_rollups, t.usage_rollups.c.hour_us, lo, hi))
        found: list[UsageSlice] = []
        for table, at, lo, hi in parts:
            c = table.c
            keys = [c.business_unit_id, c.extension_id, c.dimension] + ([at] if by_time else [])
            stmt = (
                select(*keys, func.sum(c.units), func.sum(c.value))
                .where(at >= lo, at < hi)
                .group_by(*keys)
            )
            if business_unit_id:
                stmt = stmt.where(c.business_unit_id == business_unit_id)
            if unattributed:
                stmt = stmt.where(c.business_unit_id == "")
            if extension_id:
                stmt = stmt.where(c.extension_id == extension_id)
            for row in self.conn.execute(stmt):
                found.append(
                    UsageSlice(
                        business_unit_id=row[0] or None,
                        extension_id=row[1],
                        dimension=row[2],
                        units=float(row[-2] or 0.0),
                        value=float(row[-1] or 0.0),
                        at_us=int(row[3]) if by_time else None,
                    )
                )
        return found

    def units_by_business_unit(
        self, ids: Iterable[str], start_us: int, end_us: int
    ) -> dict[str, float]:
        """Units per business unit in ``[start, end)``, both whole days (quota months)."""
        wanted = list(ids)
        if not wanted:
            return {}
        d = t.usage_rollups_daily.c
        stmt = (
            select(d.business_unit_id, func.sum(d.units))
            .where(d.business_unit_id.in_(wanted), and_(d.day_us >= start_us, d.day_us < end_us))
            .group_by(d.business_unit_id)
        )
        return {bu: float(units or 0.0) for bu, units in self.conn.execute(stmt)}

    def add_quota_alert(self, row: Mapping[str, Any]) -> int | None:
        """Store a crossing unless it was stored before; returns its id when it is new."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(t.quota_alerts)
            .values(**row)
            .on_conflict_do_nothing(
                index_elements=["business_unit_id", "period", "threshold_percent"]
            )
            .returning(t.quota_alerts.c.alert_id)
        )
        inserted = self.conn.execute(stmt).scalar()
        return None if inserted is None else int(inserted)

    def quota_alerts(self, limit: int, business_unit_id: str | None = None) -> list[dict[str, Any]]:
        q = t.quota_alerts.c
        stmt = select(t.quota_alerts).order_by(q.alert_id.desc()).limit(limit)
        if business_unit_id:
            stmt = stmt.where(q.business_unit_id == business_unit_id)
        return [dict(r) for r in self.conn.execute(stmt).mappings()]
