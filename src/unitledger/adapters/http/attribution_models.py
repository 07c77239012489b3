"""Request and response shapes of the attribution, allocation and export routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from unitledger.adapters.http.models import Model, Priority, StoredId

Method = Literal["auto", "manual"]


class BusinessUnitIn(Model):
    name: str = Field(max_length=200, examples=["Finance"])
    business_unit_id: str | None = Field(
        default=None, max_length=64, description="Unique slug; derived from the name when absent."
    )
    description: str | None = Field(default=None, max_length=2000)
    contact_email: str | None = Field(default=None, max_length=254)
    soft_quota_units: float | None = Field(
        default=None, description="Advisory monthly quota in units; alerts at 90 % and 100 %."
    )


class BusinessUnitPatch(Model):
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    contact_email: str | None = Field(default=None, max_length=254)
    soft_quota_units: float | None = None


class BusinessUnitOut(Model):
    business_unit_id: str
    name: str
    description: str
    contact_email: str | None
    soft_quota_units: float | None
    rules: int
    created_at: str | None
    updated_at: str | None


class BusinessUnitDeleted(Model):
    business_unit_id: str
    records_unattributed: int
    units_unattributed: float
    rules_deleted: list[str]


class RuleIn(Model):
    extension_pattern: str = Field(default="*", max_length=128, examples=["oracle-*"])
    account_pattern: str = Field(default="*", max_length=128, examples=["*@finance"])
    business_unit_id: str = Field(max_length=64)
    priority: Priority = 0
    description: str | None = Field(default=None, max_length=2000)


class RulePatch(Model):
    extension_pattern: str | None = Field(default=None, max_length=128)
    account_pattern: str | None = Field(default=None, max_length=128)
    business_unit_id: str | None = Field(default=None, max_length=64)
    priority: Priority | None = None
    description: str | None = Field(default=None, max_length=2000)


class RuleOut(Model):
    rule_id: str
    extension_pattern: str
    account_pattern: str
    business_unit_id: str
    priority: int
    description: str
    version: int
    wildcards: int
    position: int | None
    created_at: str | None
    updated_at: str | None


class RuleCandidate(RuleOut):
    outcome: str


class RuleTestOut(Model):
    extension_id: str
    account: str
    business_unit_id: str | None
    business_unit_name: str | None
    rule_id: str | None
    rule_version: int | None
    attribution_method: Method | None
    candidates: list[RuleCandidate]
    explanation: str


class RuleVersionOut(Model):
    rule_id: str
    version: int
    change: str
    changed_at: str | None
    changed_by: str
    rule: dict[str, Any]


class ReorderIn(Model):
    rule_ids: list[str] = Field(max_length=10_000, description="Every rule, in the order wanted.")


class SelectionIn(Model):
    """Records to act on: the listed ids, or every record matching all given filters."""

    record_ids: list[StoredId] | None = Field(default=None, max_length=100_000)
    extension_id: str | None = Field(default=None, max_length=64)
    account: str | None = Field(default=None, max_length=128)
    start: datetime | None = None
    end: datetime | None = None
    unattributed: bool = False
    business_unit_id: str | None = Field(
        default=None, max_length=64, description="Only records currently attributed to this unit."
    )


class ManualIn(SelectionIn):
    to_business_unit_id: str = Field(max_length=64, description="The business unit to charge.")


class ReapplyIn(Model):
    start: datetime
    end: datetime
    dry_run: bool = Field(default=True, description="Preview only (the default); false applies.")


class Move(Model):
    from_: str | None = Field(alias="from")
    to: str | None
    records: int
    units: float

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ReattributionOut(Model):
    audit_id: int | None
    applied: bool
    dry_run: bool = False
    matched: int
    changed: int
    moved: int
    relabelled: int
    units_moved: float
    moves: list[Move]


class AuditEntry(Model):
    audit_id: int
    at: str | None
    actor: str
    action: str
    to_business_unit_id: str | None
    records: int
    units: float
    moves: list[Move]
    selection: dict[str, Any]


class DimensionAmount(Model):
    value: float
    units: float


class ReportRow(Model):
    business_unit_id: str | None
    business_unit_name: str | None
    extension_id: str | None
    bucket_start: str | None
    bucket_end: str | None
    units: float
    share: float
    amount: float | None
    soft_quota_units: float | None
    quota_used_ratio: float | None
    dimensions: dict[str, DimensionAmount]


class ReportFilters(Model):
    business_unit_id: str | None
    unattributed: bool
    extension_id: str | None


class AllocationReport(Model):
    report: Literal["allocation"]
    version: int
    deployment_id: str
    generated_at: str | None
    period_start: str | None
    period_end: str | None
    group_by: Literal["business_unit", "extension", "business_unit_extension", "time"]
    bucket: Literal["day", "week", "month"] | None
    filters: ReportFilters
    currency: str | None
    cost_per_unit: str | None
    license_ids: list[str]
    notes: list[str]
    total_units: float
    total_amount: float | None
    rows: list[ReportRow]


class QuotaAlert(Model):
    v: int
    alert_id: int
    business_unit_id: str
    business_unit_name: str | None
    period: str
    threshold_percent: int
    soft_quota_units: float
    used_units: float
    crossed_at: str | None
