"""Attribution use cases: business units, rules, manual attribution and re-applying rules.

Every change that moves records between business units runs in one writer
transaction through :class:`AttributionStore`, which moves their rollup units
too, and leaves an audit entry (who, when, from, to, how many records).
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from unitledger.domain import from_micros, to_micros
from unitledger.domain.allocation import UsageSlice
from unitledger.domain.attribution import (
    AttributionRule,
    BusinessUnit,
    RuleDecision,
    check_business_unit,
    check_business_unit_id,
    check_description,
    check_pattern,
    check_priority,
    choose_rule,
    precedence,
)
from unitledger.errors import NotFound, ValidationFailed
from unitledger.service.auth import Principal, Role, require
from unitledger.service.ports import Attribution, Clock

__all__ = [
    "RULES_VERSION_KEY",
    "UNATTRIBUTED",
    "AttributionService",
    "AttributionStore",
    "Reattribution",
    "RecordAttribution",
    "RecordSelection",
    "RulesAttributor",
]

RULES_VERSION_KEY = "attribution.rules_version"
_MEMO_LIMIT = 100_000


def iso(micros: int | None) -> str | None:
    return None if micros is None else from_micros(micros).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class RecordAttribution:
    """How a record is attributed: business unit (None: Unattributed), method and rule."""

    business_unit_id: str | None
    method: str | None
    rule_id: str | None = None
    rule_version: int | None = None


UNATTRIBUTED = RecordAttribution(None, None)


@dataclass(frozen=True, slots=True)
class RecordSelection:
    """Which records a manual attribution or re-application touches.

    ``method``: None (any), ``"manual"`` (only manual ones) or ``"not_manual"``.
    """

    record_ids: tuple[int, ...] | None = None
    extension_id: str | None = None
    account: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    unattributed: bool = False
    business_unit_id: str | None = None
    method: str | None = None

    def describe(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.record_ids is not None:
            body["record_ids"] = list(self.record_ids)
        for name in ("extension_id", "account", "business_unit_id", "method"):
            value = getattr(self, name)
            if value:
                body[name] = value
        if self.start_us is not None:
            body["start"] = iso(self.start_us)
        if self.end_us is not None:
            body["end"] = iso(self.end_us)
        if self.unattributed:
            body["unattributed"] = True
        return body

    @property
    def is_empty(self) -> bool:
        return self.record_ids is None and not any(
            (
                self.extension_id,
                self.account,
                self.start_us,
                self.end_us,
                self.unattributed,
                self.business_unit_id,
            )
        )


@dataclass(slots=True)
class Reattribution:
    """What a (previewed or applied) re-attribution changes."""

    matched: int = 0
    changed: int = 0
    relabelled: int = 0
    units: float = 0.0
    moves: dict[tuple[str | None, str | None], list[float]] = field(default_factory=dict)

    def add(self, source: str | None, target: str | None, units: float) -> None:
        self.changed += 1
        if source == target:
            # Same business unit, new rule or method: nothing moves between rows.
            self.relabelled += 1
            return
        acc = self.moves.setdefault((source, target), [0, 0.0])
        acc[0] += 1
        acc[1] += units
        self.units += units

    @property
    def moved(self) -> int:
        return self.changed - self.relabelled

    def moves_list(self) -> list[dict[str, Any]]:
        return [
            {"from": src, "to": dst, "records": int(acc[0]), "units": acc[1]}
            for (src, dst), acc in sorted(
                self.moves.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "changed": self.changed,
            "moved": self.moved,
            "relabelled": self.relabelled,
            "units_moved": self.units,
            "moves": self.moves_list(),
        }


class RulesAttributor:
    """The ingest-time attributor: the stored rules, tried in precedence order."""

    def __init__(self, rules: Iterable[AttributionRule], version: int) -> None:
        self.rules = tuple(sorted(rules, key=precedence))
        self.version = version
        self._memo: dict[tuple[str, str], Attribution | None] = {}

    def decide(self, extension_id: str, account: str) -> RuleDecision:
        return choose_rule(self.rules, extension_id, account)

    def attribute(self, extension_id: str, account: str) -> Attribution | None:
        key = (extension_id, account)
        if key in self._memo:
            return self._memo[key]
        found = None
        for rule in self.rules:
            if rule.matches(extension_id, account):
                found = Attribution(rule.business_unit_id, rule.rule_id, rule.version, "auto")
                break
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = found
        return found

    def record_attribution(self, extension_id: str, account: str) -> RecordAttribution:
        found = self.attribute(extension_id, account)
        if found is None:
            return UNATTRIBUTED
        return RecordAttribution(found.business_unit_id, "auto", found.rule_id, found.rule_version)


class AttributionStore(Protocol):
    """One transaction over attribution data; the write variant serialises with ingest."""

    def __enter__(self) -> AttributionStore: ...
    def __exit__(self, *exc: Any) -> None: ...
    def business_units(self) -> dict[str, BusinessUnit]: ...
    def business_unit_rows(self) -> list[dict[str, Any]]: ...
    def business_unit_row(self, business_unit_id: str) -> dict[str, Any]: ...
    def add_business_unit(self, unit: BusinessUnit, now_us: int) -> None: ...
    def save_business_unit(self, unit: BusinessUnit, now_us: int) -> None: ...
    def delete_business_unit(self, business_unit_id: str) -> list[AttributionRule]: ...
    def rules(self) -> list[AttributionRule]: ...
    def rule(self, rule_id: str) -> AttributionRule: ...
    def rule_updated_at(self) -> dict[str, int]: ...
    def save_rule(self, rule: AttributionRule, *, now_us: int, actor: str, change: str) -> None: ...
    def delete_rule(self, rule: AttributionRule, *, now_us: int, actor: str) -> None: ...
    def rule_versions(self, rule_id: str) -> list[dict[str, Any]]: ...
    def bump_rules_version(self) -> int: ...
    def rules_version(self) -> int: ...
    def reattribute(
        self,
        sel: RecordSelection,
        decide: Callable[[str, str, RecordAttribution], RecordAttribution | None],
        *,
        apply: bool,
    ) -> Reattribution: ...
    def add_audit(
        self,
        *,
        at_us: int,
        actor: str,
        action: str,
        to_business_unit_id: str | None,
        result: Reattribution,
        selection: Mapping[str, Any],
    ) -> int: ...
    def audit(self, limit: int, before: int | None = None) -> list[dict[str, Any]]: ...
    def slices(
        self,
        start_us: int,
        end_us: int,
        *,
        by_time: bool,
        business_unit_id: str | None = None,
        unattributed: bool = False,
        extension_id: str | None = None,
    ) -> list[UsageSlice]: ...
    def units_by_business_unit(
        self, ids: Iterable[str], start_us: int, end_us: int
    ) -> dict[str, float]: ...
    def add_quota_alert(self, row: Mapping[str, Any]) -> int | None: ...
    def quota_alerts(
        self, limit: int, business_unit_id: str | None = None
    ) -> list[dict[str, Any]]: ...


StoreFactory = Callable[..., AttributionStore]

BU_FIELDS = ("name", "business_unit_id", "description", "contact_email", "soft_quota_units")
RULE_FIELDS = (
    "extension_pattern",
    "account_pattern",
    "business_unit_id",
    "priority",
    "description",
)


def unit_view(row: Mapping[str, Any], rules: int = 0) -> dict[str, Any]:
    return {
        "business_unit_id": row["business_unit_id"],
        "name": row["name"],
        "description": row["description"],
        "contact_email": row["contact_email"],
        "soft_quota_units": row["soft_quota_units"],
        "rules": rules,
        "created_at": iso(row["created_at_us"]),
        "updated_at": iso(row["updated_at_us"]),
    }


def rule_view(
    rule: AttributionRule, position: int | None = None, updated_at_us: int | None = None
) -> dict[str, Any]:
    return {
        "rule_id": rule.rule_id,
        "extension_pattern": rule.extension_pattern,
        "account_pattern": rule.account_pattern,
        "business_unit_id": rule.business_unit_id,
        "priority": rule.priority,
        "description": rule.description,
        "version": rule.version,
        "wildcards": rule.wildcards,
        "position": position,
        "created_at": iso(rule.created_at_us),
        "updated_at": iso(updated_at_us),
    }


def _why_behind(rule: AttributionRule, ahead: AttributionRule) -> str:
    if rule.priority != ahead.priority:
        return f"lower priority ({rule.priority} < {ahead.priority})"
    if rule.wildcards != ahead.wildcards:
        return f"less specific ({rule.wildcards} wildcards > {ahead.wildcards})"
    if rule.literals != ahead.literals:
        return f"less specific ({rule.literals} literal characters < {ahead.literals})"
    return "same priority and specificity, but created later"


def _unknown_fields(body: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for name in body:
        if name not in allowed:
            raise ValidationFailed(
                f"unknown field {name!r}; allowed: {', '.join(allowed)}", field=name
            )


class AttributionService:
    """Business units, rules and (re-)attribution of records. Built by ``bootstrap``."""

    def __init__(self, *, store: StoreFactory, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def _now_us(self) -> int:
        return to_micros(self.clock())

    # -- business units -------------------------------------------------------
    def business_units(self) -> list[dict[str, Any]]:
        with self.store(write=False) as s:
            rows = s.business_unit_rows()
            counts: dict[str, int] = defaultdict(int)
            for rule in s.rules():
                counts[rule.business_unit_id] += 1
        return [unit_view(r, counts[r["business_unit_id"]]) for r in rows]

    def business_unit(self, business_unit_id: str) -> dict[str, Any]:
        with self.store(write=False) as s:
            row = s.business_unit_row(business_unit_id)
            rules = sum(1 for r in s.rules() if r.business_unit_id == business_unit_id)
        return unit_view(row, rules)

    def create_business_unit(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a business unit; its identifier is derived from the name when not given."""
        require(principal, Role.ADMIN)
        _unknown_fields(body, BU_FIELDS)
        unit = check_business_unit(
            **{k: body.get(k) for k in BU_FIELDS if k != "description"},
            description=body.get("description") or "",
        )
        with self.store() as s:
            s.add_business_unit(unit, self._now_us())
        return self.business_unit(unit.business_unit_id)

    def update_business_unit(
        self, principal: Principal, business_unit_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change name, description, contact or quota; the identifier stays."""
        require(principal, Role.ADMIN)
        _unknown_fields(changes, [f for f in BU_FIELDS if f != "business_unit_id"])
        with self.store() as s:
            row = s.business_unit_row(business_unit_id)
            merged = {k: row[k] for k in BU_FIELDS}
            merged.update(changes)
            merged["description"] = merged.get("description") or ""
            s.save_business_unit(check_business_unit(**merged), self._now_us())
        return self.business_unit(business_unit_id)

    def delete_business_unit(self, principal: Principal, business_unit_id: str) -> dict[str, Any]:
        """Delete a business unit and its rules; its records stay, as Unattributed."""
        require(principal, Role.ADMIN)
        now_us = self._now_us()
        with self.store() as s:
            sel = RecordSelection(business_unit_id=business_unit_id)
            s.business_unit_row(business_unit_id)
            rules = s.delete_business_unit(business_unit_id)
            for rule in rules:
                s.delete_rule(
                    replace(rule, version=rule.version + 1), now_us=now_us, actor=principal.actor
                )
            s.bump_rules_version()
            result = s.reattribute(sel, lambda _e, _a, _c: UNATTRIBUTED, apply=True)
            s.add_audit(
                at_us=now_us,
                actor=principal.actor,
                action="business_unit.delete",
                to_business_unit_id=None,
                result=result,
                selection={
                    "business_unit_id": business_unit_id,
                    "rules_deleted": [r.rule_id for r in rules],
                },
            )
        return {
            "business_unit_id": business_unit_id,
            "records_unattributed": result.changed,
            "units_unattributed": result.units,
            "rules_deleted": [r.rule_id for r in rules],
        }

    # -- rules ----------------------------------------------------------------
    def rules(self) -> list[dict[str, Any]]:
        """Rules in the order they are tried: the first that matches wins."""
        with self.store(write=False) as s:
            rules = sorted(s.rules(), key=precedence)
            updated = s.rule_updated_at()
        return [rule_view(r, i + 1, updated.get(r.rule_id)) for i, r in enumerate(rules)]

    def rule(self, rule_id: str) -> dict[str, Any]:
        for view in self.rules():
            if view["rule_id"] == rule_id:
                return view
        raise NotFound(f"no attribution rule with id {rule_id!r}", field="rule_id")

    def rule_versions(self, rule_id: str) -> list[dict[str, Any]]:
        with self.store(write=False) as s:
            rows = s.rule_versions(rule_id)
        if not rows:
            raise NotFound(
                f"no attribution rule with id {rule_id!r} was ever stored", field="rule_id"
            )
        return [
            {
                "rule_id": r["rule_id"],
                "version": r["version"],
                "change": r["change"],
                "changed_at": iso(r["changed_at_us"]),
                "changed_by": r["changed_by"],
                "rule": _json(r["rule"]),
            }
            for r in rows
        ]

    @staticmethod
    def _checked_rule(rule: AttributionRule, units: Mapping[str, BusinessUnit]) -> AttributionRule:
        check_pattern(rule.extension_pattern, field="extension_pattern")
        check_pattern(rule.account_pattern, field="account_pattern")
        check_business_unit_id(rule.business_unit_id)
        check_priority(rule.priority)
        check_description(rule.description)
        if rule.business_unit_id not in units:
            raise ValidationFailed(
                f"business unit {rule.business_unit_id!r} does not exist; create it first "
                "(unitledger bu create)",
                field="business_unit_id",
            )
        return rule

    def create_rule(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Add a rule; records written from now on are attributed with it."""
        require(principal, Role.ADMIN)
        _unknown_fields(body, RULE_FIELDS)
        if "business_unit_id" not in body:
            raise ValidationFailed(
                "business_unit_id is required: which unit does the rule charge?",
                field="business_unit_id",
            )
        now_us = self._now_us()
        rule = AttributionRule(
            rule_id="rule_" + secrets.token_hex(6),
            extension_pattern=body.get("extension_pattern", "*"),
            account_pattern=body.get("account_pattern", "*"),
            business_unit_id=body["business_unit_id"],
            priority=body.get("priority", 0),
            description=body.get("description") or "",
            version=1,
            created_at_us=now_us,
        )
        with self.store() as s:
            self._checked_rule(rule, s.business_units())
            s.save_rule(rule, now_us=now_us, actor=principal.actor, change="create")
            s.bump_rules_version()
        return self.rule(rule.rule_id)

    def update_rule(
        self, principal: Principal, rule_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Edit a rule; it gets a new version, records keep the version that attributed them."""
        require(principal, Role.ADMIN)
        _unknown_fields(changes, RULE_FIELDS)
        now_us = self._now_us()
        with self.store() as s:
            current = s.rule(rule_id)
            fields = {k: v for k, v in changes.items() if v is not None}
            updated = replace(current, **fields, version=current.version + 1)
            # An edit that changes nothing keeps the version (PATCH is idempotent).
            if updated != replace(current, version=current.version + 1):
                self._checked_rule(updated, s.business_units())
                s.save_rule(updated, now_us=now_us, actor=principal.actor, change="update")
                s.bump_rules_version()
        return self.rule(rule_id)

    def delete_rule(self, principal: Principal, rule_id: str) -> None:
        require(principal, Role.ADMIN)
        now_us = self._now_us()
        with self.store() as s:
            current = s.rule(rule_id)
            s.delete_rule(
                replace(current, version=current.version + 1), now_us=now_us, actor=principal.actor
            )
            s.bump_rules_version()

    def reorder_rules(self, principal: Principal, rule_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Give the listed rules descending priorities (10 apart) in the order listed.

        Every rule must be listed once, so the resulting order is exactly the one given.
        """
        require(principal, Role.ADMIN)
        if len(set(rule_ids)) != len(rule_ids):
            raise ValidationFailed("rule_ids lists a rule more than once", field="rule_ids")
        now_us = self._now_us()
        with self.store() as s:
            rules = {r.rule_id: r for r in s.rules()}
            unknown = [r for r in rule_ids if r not in rules]
            if unknown:
                raise NotFound(f"no attribution rule with id(s) {unknown}", field="rule_ids")
            missing = sorted(set(rules) - set(rule_ids))
            if missing:
                raise ValidationFailed(
                    f"list every rule to reorder them; missing: {', '.join(missing)}",
                    field="rule_ids",
                )
            top = 10 * len(rule_ids)
            for index, rule_id in enumerate(rule_ids):
                rule = rules[rule_id]
                priority = top - 10 * index
                if rule.priority != priority:
                    s.save_rule(
                        replace(rule, priority=priority, version=rule.version + 1),
                        now_us=now_us,
                        actor=principal.actor,
                        change="reorder",
                    )
            s.bump_rules_version()
        return self.rules()

    def test_rules(self, extension_id: str, account: str) -> dict[str, Any]:
        """Which rule would attribute a record of ``extension_id`` for ``account``, and why."""
        with self.store(write=False) as s:
            rules = s.rules()
            units = s.business_units()
        decision = choose_rule(rules, extension_id, account)
        candidates = []
        for index, rule in enumerate(decision.candidates):
            view = rule_view(rule, index + 1)
            view["outcome"] = (
                "wins" if index == 0 else _why_behind(rule, decision.candidates[index - 1])
            )
            candidates.append(view)
        winner = decision.winner
        return {
            "extension_id": extension_id,
            "account": account,
            "business_unit_id": winner.business_unit_id if winner else None,
            "business_unit_name": units[winner.business_unit_id].name
            if winner and winner.business_unit_id in units
            else None,
            "rule_id": winner.rule_id if winner else None,
            "rule_version": winner.version if winner else None,
            "attribution_method": "auto" if winner else None,
            "candidates": candidates,
            "explanation": (
                "no rule matches: records are Unattributed"
                if winner is None
                else "rules are ordered by priority (higher first), then specificity (fewer "
                "wildcards, then more literal characters), then age (older first); the first "
                "matching rule wins"
            ),
        }

    # -- attributing records --------------------------------------------------
    def attribute(
        self, principal: Principal, selection: RecordSelection, business_unit_id: str
    ) -> dict[str, Any]:
        """Manually attribute the selected records to a business unit (overrides rules)."""
        require(principal, Role.ADMIN)
        _require_selection(selection)
        target = RecordAttribution(check_business_unit_id(business_unit_id), "manual")
        now_us = self._now_us()
        with self.store() as s:
            if business_unit_id not in s.business_units():
                raise NotFound(
                    f"no business unit with id {business_unit_id!r}", field="business_unit_id"
                )
            result = s.reattribute(selection, lambda _e, _a, _c: target, apply=True)
            audit_id = s.add_audit(
                at_us=now_us,
                actor=principal.actor,
                action="manual",
                to_business_unit_id=business_unit_id,
                result=result,
                selection=selection.describe(),
            )
        return {"audit_id": audit_id, "applied": True, **result.to_dict()}

    def clear_manual(self, principal: Principal, selection: RecordSelection) -> dict[str, Any]:
        """Return manually attributed records to rule-based attribution."""
        require(principal, Role.ADMIN)
        _require_selection(selection)
        sel = replace(selection, method="manual")
        now_us = self._now_us()
        with self.store() as s:
            rules = RulesAttributor(s.rules(), s.rules_version())
            result = s.reattribute(sel, lambda e, a, _c: rules.record_attribution(e, a), apply=True)
            audit_id = s.add_audit(
                at_us=now_us,
                actor=principal.actor,
                action="clear",
                to_business_unit_id=None,
                result=result,
                selection=sel.describe(),
            )
        return {"audit_id": audit_id, "applied": True, **result.to_dict()}

    def reapply_rules(
        self, principal: Principal, start_us: int, end_us: int, *, dry_run: bool
    ) -> dict[str, Any]:
        """Attribute past records in ``[start, end)`` with today's rules; manual ones stay.

        A dry run only previews how many records and units would move, and where.
        """
        require(principal, Role.ADMIN)
        if end_us <= start_us:
            raise ValidationFailed("end must be after start", field="end")
        sel = RecordSelection(start_us=start_us, end_us=end_us, method="not_manual")
        now_us = self._now_us()
        with self.store(write=not dry_run) as s:
            rules = RulesAttributor(s.rules(), s.rules_version())
            result = s.reattribute(
                sel, lambda e, a, _c: rules.record_attribution(e, a), apply=not dry_run
            )
            audit_id = None
            if not dry_run:
                audit_id = s.add_audit(
                    at_us=now_us,
                    actor=principal.actor,
                    action="reapply",
                    to_business_unit_id=None,
                    result=result,
                    selection={**sel.describe(), "rules_version": rules.version},
                )
        return {
            "audit_id": audit_id,
            "applied": not dry_run,
            "dry_run": dry_run,
            **result.to_dict(),
        }

    def audit(self, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        with self.store(write=False) as s:
            rows = s.audit(limit, before)
        return [
            {
                "audit_id": r["audit_id"],
                "at": iso(r["at_us"]),
                "actor": r["actor"],
                "action": r["action"],
                "to_business_unit_id": r["to_business_unit_id"],
                "records": r["records"],
                "units": r["units"],
                "moves": _json(r["moves"]),
                "selection": _json(r["selection"]),
            }
            for r in rows
        ]


def _require_selection(selection: RecordSelection) -> None:
    if selection.is_empty:
        raise ValidationFailed(
            "select records: give record_ids or at least one filter (extension_id, account, start, end, "
            "unattributed, business_unit_id)",
            field="record_ids",
        )


def _json(text: str) -> Any:
    return json.loads(text)
