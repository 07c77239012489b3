"""Business units, attribution rules, manual attribution, allocation reports and exports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from unitledger.adapters.http.attribution_models import (
    AllocationReport,
    AuditEntry,
    BusinessUnitDeleted,
    BusinessUnitIn,
    BusinessUnitOut,
    BusinessUnitPatch,
    ManualIn,
    QuotaAlert,
    ReapplyIn,
    ReattributionOut,
    ReorderIn,
    RuleIn,
    RuleOut,
    RulePatch,
    RuleTestOut,
    RuleVersionOut,
    SelectionIn,
)
from unitledger.adapters.http.deps import Admin, Viewer, runtime_of
from unitledger.adapters.http.models import MAX_STORED_ID, problem_responses
from unitledger.domain import to_micros
from unitledger.errors import Unavailable
from unitledger.service.allocation import Chargeback, ReportQuery
from unitledger.service.attribution import RecordSelection
from unitledger.service.exports import csv_lines, json_text

router = APIRouter()

BuId = Annotated[str, Path(max_length=64)]
RuleId = Annotated[str, Path(max_length=64)]


def get_chargeback(request: Request) -> Chargeback:
    chargeback = runtime_of(request).chargeback
    if chargeback is None:
        raise Unavailable("attribution is not configured on this server")
    return chargeback


Charges = Annotated[Chargeback, Depends(get_chargeback)]


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def selection(body: SelectionIn) -> RecordSelection:
    start, end = utc(body.start), utc(body.end)
    return RecordSelection(
        record_ids=tuple(body.record_ids) if body.record_ids is not None else None,
        extension_id=body.extension_id,
        account=body.account,
        start_us=to_micros(start) if start else None,
        end_us=to_micros(end) if end else None,
        unattributed=body.unattributed,
        business_unit_id=body.business_unit_id,
    )


# -- business units ---------------------------------------------------------------
@router.get(
    "/business-units",
    response_model=list[BusinessUnitOut],
    tags=["business units"],
    responses=problem_responses(401, 403),
)
def list_business_units(charges: Charges, _: Viewer) -> list[dict[str, Any]]:
    """Every business unit, by name."""
    return charges.attribution.business_units()


@router.post(
    "/business-units",
    response_model=BusinessUnitOut,
    status_code=201,
    tags=["business units"],
    responses=problem_responses(400, 401, 403, 409),
)
def create_business_unit(
    body: BusinessUnitIn, charges: Charges, principal: Admin
) -> dict[str, Any]:
    """Create a business unit; ``business_unit_id`` is derived from the name when absent."""
    return charges.attribution.create_business_unit(principal, body.model_dump(exclude_unset=True))


@router.get(
    "/business-units/{business_unit_id}",
    response_model=BusinessUnitOut,
    tags=["business units"],
    responses=problem_responses(401, 403, 404),
)
def show_business_unit(business_unit_id: BuId, charges: Charges, _: Viewer) -> dict[str, Any]:
    return charges.attribution.business_unit(business_unit_id)


@router.patch(
    "/business-units/{business_unit_id}",
    response_model=BusinessUnitOut,
    tags=["business units"],
    responses=problem_responses(400, 401, 403, 404),
)
def edit_business_unit(
    business_unit_id: BuId, body: BusinessUnitPatch, charges: Charges, principal: Admin
) -> dict[str, Any]:
    """Change name, description, contact or soft quota (send null to clear a quota)."""
    return charges.attribution.update_business_unit(
        principal, business_unit_id, body.model_dump(exclude_unset=True)
    )


@router.delete(
    "/business-units/{business_unit_id}",
    response_model=BusinessUnitDeleted,
    tags=["business units"],
    responses=problem_responses(401, 403, 404),
)
def delete_business_unit(
    business_unit_id: BuId, charges: Charges, principal: Admin
) -> dict[str, Any]:
    """Delete a business unit and its rules. Its records stay and show as Unattributed."""
    return charges.attribution.delete_business_unit(principal, business_unit_id)


# -- rules --------------------------------------------------------------------------
@router.get(
    "/attribution/rules",
    response_model=list[RuleOut],
    tags=["attribution"],
    responses=problem_responses(401, 403),
)
def list_rules(charges: Charges, _: Viewer) -> list[dict[str, Any]]:
    """Rules in the order they are tried; the first that matches a record wins."""
    return charges.attribution.rules()


@router.post(
    "/attribution/rules",
    response_model=RuleOut,
    status_code=201,
    tags=["attribution"],
    responses=problem_responses(400, 401, 403),
)
def create_rule(body: RuleIn, charges: Charges, principal: Admin) -> dict[str, Any]:
    """Add a rule. Records written from now on are attributed with it."""
    return charges.attribution.create_rule(principal, body.model_dump(exclude_unset=True))


@router.get(
    "/attribution/rules/test",
    response_model=RuleTestOut,
    tags=["attribution"],
    responses=problem_responses(400, 401, 403),
)
def rules_test(
    charges: Charges,
    _: Viewer,
    extension_id: Annotated[str, Query(max_length=64)],
    account: Annotated[str, Query(max_length=128)] = "unknown",
) -> dict[str, Any]:
    """Which rule would attribute a record of this extension and account, and why."""
    return charges.attribution.test_rules(extension_id, account)


@router.post(
    "/attribution/rules/reorder",
    response_model=list[RuleOut],
    tags=["attribution"],
    responses=problem_responses(400, 401, 403, 404),
)
def reorder_rules(body: ReorderIn, charges: Charges, principal: Admin) -> list[dict[str, Any]]:
    """Set the order of all rules: they get priorities 10 apart, first listed highest."""
    return charges.attribution.reorder_rules(principal, body.rule_ids)


@router.get(
    "/attribution/rules/{rule_id}",
    response_model=RuleOut,
    tags=["attribution"],
    responses=problem_responses(401, 403, 404),
)
def show_rule(rule_id: RuleId, charges: Charges, _: Viewer) -> dict[str, Any]:
    return charges.attribution.rule(rule_id)


@router.get(
    "/attribution/rules/{rule_id}/versions",
    response_model=list[RuleVersionOut],
    tags=["attribution"],
    responses=problem_responses(401, 403, 404),
)
def rule_versions(rule_id: RuleId, charges: Charges, _: Viewer) -> list[dict[str, Any]]:
    """Every version of a rule, so a record's ``attribution_rule_version`` can be explained."""
    return charges.attribution.rule_versions(rule_id)


@router.patch(
    "/attribution/rules/{rule_id}",
    response_model=RuleOut,
    tags=["attribution"],
    responses=problem_responses(400, 401, 403, 404),
)
def edit_rule(
    rule_id: RuleId, body: RulePatch, charges: Charges, principal: Admin
) -> dict[str, Any]:
    """Edit a rule; it gets a new version. Past records keep theirs until rules are re-applied."""
    return charges.attribution.update_rule(principal, rule_id, body.model_dump(exclude_unset=True))


@router.delete(
    "/attribution/rules/{rule_id}",
    status_code=204,
    tags=["attribution"],
    responses=problem_responses(401, 403, 404),
)
def delete_rule(rule_id: RuleId, charges: Charges, principal: Admin) -> None:
    charges.attribution.delete_rule(principal, rule_id)


# -- attributing records ------------------------------------------------------------
@router.post(
    "/attribution/manual",
    response_model=ReattributionOut,
    tags=["attribution"],
    responses=problem_responses(400, 401, 403, 404),
)
def attribute_manually(body: ManualIn, charges: Charges, principal: Admin) -> dict[str, Any]:
    """Charge the selected records to a business unit, overriding rules (audited)."""
    return charges.attribution.attribute(principal, selection(body), body.to_business_unit_id)


@router.post(
    "/attribution/clear",
    response_model=ReattributionOut,
    tags=["attribution"],
    responses=problem_responses(400, 401, 403),
)
def clear_manual(body: SelectionIn, charges: Charges, principal: Admin) -> dict[str, Any]:
    """Return manually attributed records among the selected ones to rule-based attribution."""
    return charges.attribution.clear_manual(principal, selection(body))


@router.post(
    "/attribution/reapply",
    response_model=ReattributionOut,
    tags=["attribution"],
    responses=problem_responses(400, 401, 403),
)
def reapply_rules(body: ReapplyIn, charges: Charges, principal: Admin) -> dict[str, Any]:
    """Re-attribute past records with today's rules; a dry run (default) only previews.

    Manual attributions are never overwritten. Applying is one transaction.
    """
    start = body.start.replace(tzinfo=UTC) if body.start.tzinfo is None else body.start
    end = body.end.replace(tzinfo=UTC) if body.end.tzinfo is None else body.end
    return charges.attribution.reapply_rules(
        principal, to_micros(start), to_micros(end), dry_run=body.dry_run
    )


@router.get(
    "/attribution/audit",
    response_model=list[AuditEntry],
    tags=["attribution"],
    responses=problem_responses(401, 403),
)
def audit(
    charges: Charges,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_STORED_ID, description="Entries older than this audit_id."),
    ] = None,
) -> list[dict[str, Any]]:
    """Manual attributions, clears, re-applications and deletions: who, when, from, to, how many."""
    return charges.attribution.audit(limit, before)


@router.get(
    "/attribution/alerts",
    response_model=list[QuotaAlert],
    tags=["attribution"],
    responses=problem_responses(401, 403),
)
def quota_alerts(
    charges: Charges,
    _: Viewer,
    business_unit_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Soft-quota crossings (90 % and 100 % of a unit's monthly quota), newest first."""
    return charges.quotas.alerts(limit, business_unit_id)


# -- reports and exports ------------------------------------------------------------
GroupBy = Literal["business_unit", "extension", "business_unit_extension", "time"]


def report_query(
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    group_by: GroupBy = "business_unit",
    bucket: Literal["day", "week", "month"] | None = None,
    business_unit_id: Annotated[str | None, Query(max_length=64)] = None,
    unattributed: bool = False,
    extension_id: Annotated[str | None, Query(max_length=64)] = None,
) -> ReportQuery:
    """Window (default: the current UTC month; whole hours), grouping and filters."""
    return ReportQuery(
        utc(period_start),
        utc(period_end),
        group_by,
        bucket,
        business_unit_id,
        unattributed,
        extension_id,
    )


Query_ = Annotated[ReportQuery, Depends(report_query)]


@router.get(
    "/reports/allocation",
    response_model=AllocationReport,
    tags=["reports"],
    responses=problem_responses(400, 401, 403),
)
def allocation_report(query: Query_, charges: Charges, _: Viewer) -> dict[str, Any]:
    """Units (and cost, when a license has one) per business unit, extension or time bucket.

    Rows, Unattributed included, add up to ``total_units``. Cost per unit = license
    cost / licensed units. Served from the rollups.
    """
    return charges.reports.report(query)


def _download(name: str, lines: Iterator[str], media_type: str) -> StreamingResponse:
    return StreamingResponse(
        (line.encode() for line in lines),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/allocation/export",
    response_model=None,
    response_class=Response,
    tags=["reports"],
    responses={
        200: {
            "description": "The report as a file (streamed for CSV and FOCUS).",
            "content": {"text/csv": {}, "application/json": {}},
        },
        **problem_responses(400, 401, 403),
    },
)
def export_report(
    query: Query_,
    charges: Charges,
    _: Viewer,
    format: Literal["csv", "json", "focus", "signed"] = "csv",
) -> Response:
    """Download a report: ``csv``, ``json``, ``focus`` (FinOps FOCUS 1.0 columns, one row per
    day, business unit, extension and dimension) or ``signed`` (the JSON report signed with
    the deployment key; check it with ``unitledger report verify FILE``)."""
    stamp = f"{(query.start or charges.reports.clock()).date()}"
    if format == "focus":
        return _download(
            f"unitledger-focus-{stamp}.csv", charges.reports.focus(query), "text/csv; charset=utf-8"
        )
    if format == "signed":
        return Response(
            charges.reports.signed(query),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="unitledger-report-{stamp}.signed.json"'
            },
        )
    report = charges.reports.report(query)
    if format == "json":
        return Response(
            json_text(report),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="unitledger-report-{stamp}.json"'
            },
        )
    return _download(f"unitledger-report-{stamp}.csv", csv_lines(report), "text/csv; charset=utf-8")
