"""The ``report_usage`` use case, applied to a batch of reports in one transaction.

Order inside the transaction: lock the chain head (serialises writers across
replicas), load and lock the license pools, drop duplicates by idempotency key,
then per report: assess (convert + charge, or quarantine), attribute, chain and
append the record. Rollups, pools, counters and enforcement states are written
in the same transaction, so a committed batch is complete or absent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from unitledger.domain import (
    Cost,
    EnforcementState,
    UsageReport,
    assess_batch,
    canonical_json,
    record_hash,
    to_micros,
)
from unitledger.errors import IdempotencyConflict, UnitledgerError
from unitledger.service.enforcement import Snapshot, evaluate_states, load_pools
from unitledger.service.ports import ExistingReport, ExtensionRow, StateChange, UnitOfWork

__all__ = ["BatchResult", "ReportOutcome", "record_batch"]

HOUR_US = 3_600_000_000
CHECKS = "licensing.checks.total"
BLOCKED = "licensing.enforcements.blocked"


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What the reporter is told. ``record_id`` is None for a quarantined report."""

    record_id: int | None
    units: float
    units_by_dimension: Mapping[str, float]
    state: str
    extension_state: str
    license_ids: list[str]
    duplicate: bool = False
    quarantine_id: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "record_id": self.record_id,
            "units": self.units,
            "units_by_dimension": dict(self.units_by_dimension),
            "state": self.state,
            "extension_state": self.extension_state,
            "license_ids": list(self.license_ids),
            "duplicate": self.duplicate,
        }
        if self.quarantine_id is not None:
            body["quarantine_id"] = self.quarantine_id
            body["reason"] = self.reason
        return body


@dataclass(slots=True)
class BatchResult:
    outcomes: list[ReportOutcome | UnitledgerError]
    changes: list[StateChange]
    snapshot: Snapshot
    units: float = 0.0
    records: int = 0


@dataclass(slots=True)
class _Draft:
    """A report's outcome before the batch's final states are known."""

    record_id: int | None = None
    units: float = 0.0
    units_by_dimension: Mapping[str, float] = field(default_factory=dict)
    license_ids: list[str] = field(default_factory=list)
    duplicate: bool = False
    quarantine_id: int | None = None
    reason: str | None = None


def _from_existing(found: ExistingReport) -> _Draft:
    row = found.row
    if found.kind == "quarantine":
        return _Draft(
            record_id=None,
            duplicate=True,
            quarantine_id=row["quarantine_id"],
            reason=row["reason"],
        )
    charges = json.loads(row["charges"])
    return _Draft(
        record_id=row["record_id"],
        units=row["units"],
        units_by_dimension=json.loads(row["units_by_dimension"]),
        license_ids=[c["license_id"] for c in charges],
        duplicate=True,
    )


def _charges_json(charged: Cost) -> list[dict[str, Any]]:
    return [
        {
            "license_id": c.license_id,
            "period": c.period,
            "units": c.units,
            "over_units": c.over_units,
        }
        for c in charged.charges
    ]


def record_batch(
    uow: UnitOfWork,
    reports: Sequence[UsageReport],
    now: datetime,
    *,
    replay_of: Mapping[int, int] | None = None,
    clock_warning: str | None = None,
) -> BatchResult:
    """Apply ``reports`` in order. Returns one outcome (or error) per report.

    ``replay_of`` maps a report's position to the quarantine entry it replays,
    so that entry is marked replayed in the same transaction. ``clock_warning`` is
    the clock guard's reason to flag the global state, if any.
    """
    seq, prev_hash = uow.lock_head()
    pools = load_pools(uow, now, lock=True)
    existing = uow.existing((r.extension_id, r.idempotency_key) for r in reports)
    if replay_of:
        # A quarantined report being replayed is not a duplicate of itself.
        for position in replay_of:
            r = reports[position]
            found = existing.get((r.extension_id, r.idempotency_key))
            if found is not None and found.kind == "quarantine":
                del existing[(r.extension_id, r.idempotency_key)]
    attributor = uow.attributor()
    known = uow.extensions({r.extension_id for r in reports})
    now_us = to_micros(now)
    fingerprints = [r.fingerprint() for r in reports]
    # Which reports are new (not stored before, not repeated earlier in the batch):
    # only those are charged, in order, against the pools as the previous ones left them.
    fresh: set[tuple[str, str]] = set()
    to_assess: list[tuple[str, Mapping[str, float]]] = []
    for report in reports:
        key = (report.extension_id, report.idempotency_key)
        if key not in existing and key not in fresh:
            fresh.add(key)
            to_assess.append((report.extension_id, report.dimensions))
    batch = assess_batch(to_assess, pools, now)
    assessments = iter(batch.results)
    new_reports: dict[str, int] = {}
    new_uncovered: dict[str, set[str]] = {}
    drafts: list[_Draft | UnitledgerError] = []
    records: list[dict[str, Any]] = []
    rollups: dict[tuple[int, str, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    counters: dict[tuple[str, str], int] = defaultdict(int)
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    total_units = 0.0

    for position, report in enumerate(reports):
        key = (report.extension_id, report.idempotency_key)
        fingerprint = fingerprints[position]
        prior = existing.get(key)
        if prior is not None or key in seen:
            prior_fp = prior.fingerprint if prior is not None else seen[key][0]
            if prior_fp != fingerprint:
                drafts.append(
                    IdempotencyConflict(
                        f"idempotency_key {report.idempotency_key!r} was already used for a "
                        "different report from this extension; use a new key for new work",
                        field="idempotency_key",
                    )
                )
            elif prior is not None:
                drafts.append(_from_existing(prior))
            else:
                first = drafts[seen[key][1]]
                drafts.append(
                    first if isinstance(first, UnitledgerError) else replace(first, duplicate=True)
                )
            continue
        seen[key] = (fingerprint, position)
        extension_id = report.extension_id
        counters[(CHECKS, extension_id)] += 1
        assessment = next(assessments)
        occurred_us = to_micros(report.occurred_at)
        if not isinstance(assessment, Cost) and replay_of and position in replay_of:
            # Still not covered: the quarantined report stays where it is.
            drafts.append(_Draft(quarantine_id=replay_of[position], reason=assessment.reason))
            continue
        if not isinstance(assessment, Cost):
            quarantine_id = uow.insert_quarantine(
                {
                    "extension_id": extension_id,
                    "account": report.account,
                    "idempotency_key": report.idempotency_key,
                    "fingerprint": fingerprint,
                    "occurred_at_us": occurred_us,
                    "received_at_us": now_us,
                    "dimensions": canonical_json(dict(report.dimensions)),
                    "uncovered": canonical_json(list(assessment.dimensions)),
                    "reason": assessment.reason,
                    "status": "held",
                }
            )
            new_uncovered.setdefault(extension_id, set()).update(assessment.dimensions)
            new_reports.setdefault(extension_id, 0)
            drafts.append(_Draft(quarantine_id=quarantine_id, reason=assessment.reason))
            continue
        seq += 1
        charges = _charges_json(assessment)
        by_dimension = assessment.units_by_dimension
        digest = record_hash(
            record_id=seq,
            extension_id=extension_id,
            account=report.account,
            idempotency_key=report.idempotency_key,
            occurred_at_us=occurred_us,
            received_at_us=now_us,
            dimensions=report.dimensions,
            units_by_dimension=by_dimension,
            units=assessment.units,
            rates=assessment.rates,
            charges=charges,
            prev_hash=prev_hash,
        )
        attribution = attributor.attribute(extension_id, report.account)
        bu = attribution.business_unit_id if attribution else None
        records.append(
            {
                "record_id": seq,
                "extension_id": extension_id,
                "account": report.account,
                "idempotency_key": report.idempotency_key,
                "fingerprint": fingerprint,
                "occurred_at_us": occurred_us,
                "received_at_us": now_us,
                "dimensions": canonical_json(dict(report.dimensions)),
                "units_by_dimension": canonical_json(dict(by_dimension)),
                "units": assessment.units,
                "rates": canonical_json(dict(assessment.rates)),
                "charges": canonical_json(charges),
                "prev_hash": prev_hash,
                "hash": digest,
                "extension_state": "",
                "business_unit_id": bu,
                "attribution_method": attribution.method if attribution else None,
                "attribution_rule_id": attribution.rule_id if attribution else None,
                "attribution_rule_version": attribution.rule_version if attribution else None,
            }
        )
        prev_hash = digest
        hour = occurred_us - occurred_us % HOUR_US
        for name, value in report.dimensions.items():
            acc = rollups[(hour, extension_id, report.account, bu or "", name)]
            acc[0] += value
            acc[1] += by_dimension[name]
            acc[2] += 1
        total_units += assessment.units
        new_reports[extension_id] = new_reports.get(extension_id, 0) + 1
        drafts.append(
            _Draft(
                record_id=seq,
                units=assessment.units,
                units_by_dimension=by_dimension,
                license_ids=assessment.license_ids,
            )
        )

    pools = list(batch.pools)
    touched = [
        _touched(known.get(extension_id), extension_id, now_us, count, new_uncovered)
        for extension_id, count in new_reports.items()
    ]
    # Extensions must exist before their states are evaluated.
    uow.save_extensions(touched)
    snap, changes = evaluate_states(uow, pools, now, clock_warning)
    outcomes: list[ReportOutcome | UnitledgerError] = []
    global_state = snap.global_.state.value
    # Each extension's state value and whether it is enabled, looked up once per batch.
    states = {
        extension_id: (state.value, state.enabled)
        for extension_id in {r.extension_id for r in reports}
        for state in (snap.state_of(extension_id),)
    }
    for report, draft in zip(reports, drafts, strict=True):
        if isinstance(draft, UnitledgerError):
            outcomes.append(draft)
            continue
        ext_state, enabled = states[report.extension_id]
        if not draft.duplicate and (draft.quarantine_id is not None or not enabled):
            counters[(BLOCKED, report.extension_id)] += 1
        outcomes.append(
            ReportOutcome(
                record_id=draft.record_id,
                units=draft.units,
                units_by_dimension=draft.units_by_dimension,
                state=global_state,
                extension_state=(
                    EnforcementState.DISABLED.value
                    if draft.quarantine_id is not None
                    else ext_state
                ),
                license_ids=draft.license_ids,
                duplicate=draft.duplicate,
                quarantine_id=draft.quarantine_id,
                reason=draft.reason,
            )
        )
    for row in records:
        row["extension_state"] = states[row["extension_id"]][0]
    uow.insert_records(records)
    uow.add_rollups(rollups)
    uow.save_pools(p.pool for p in pools if p.pool.used_units > 0 or p.pool.exhausted_at)
    if records:
        uow.save_head(seq, prev_hash)
    uow.add_counters(counters)
    if replay_of:
        _mark_replayed(uow, outcomes, replay_of)
    return BatchResult(outcomes, changes, snap, total_units, len(records))


def _touched(
    known: ExtensionRow | None,
    extension_id: str,
    now_us: int,
    reports: int,
    uncovered: Mapping[str, set[str]],
) -> ExtensionRow:
    """An extension's row after this batch: seen now, ``reports`` more, new uncovered names."""
    base = known or ExtensionRow(extension_id, now_us, None, (), 0)
    added = uncovered.get(extension_id)
    return ExtensionRow(
        extension_id,
        base.first_seen_us,
        now_us,
        tuple(sorted(set(base.uncovered) | added)) if added else base.uncovered,
        base.reports + reports,
    )


def _mark_replayed(
    uow: UnitOfWork,
    outcomes: Sequence[ReportOutcome | UnitledgerError],
    replay_of: Mapping[int, int],
) -> None:
    for position, quarantine_id in replay_of.items():
        outcome = outcomes[position]
        if isinstance(outcome, ReportOutcome) and outcome.record_id is not None:
            uow.mark_replayed(quarantine_id, outcome.record_id)
