"""Response and request shapes of the HTTP API, as the OpenAPI document shows them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["OK", "WARNING", "UNLICENSED"]
ExtensionState = Literal["OK", "WARNING", "UNLICENSED", "DISABLED"]


# Identifiers and integers stored in the database: larger values are a 400, not an
# overflow inside the driver.
MAX_STORED_ID = 2**63 - 1
StoredId = Annotated[int, Field(ge=0, le=MAX_STORED_ID)]
Priority = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    type: str
    code: str
    status: int
    title: str
    detail: str
    retryable: bool
    field: str | None = None
    instance: str | None = None


class Message(Model):
    message: str


class Health(Model):
    status: Literal["ok", "degraded"]
    database: str
    nats: str
    version: str


class Info(Model):
    name: str
    version: str
    deployment_id: str
    nats_url: str | None
    public_key: str


class UsageReportIn(Model):
    """A usage report. Values are increments since the last report."""

    extension_id: str = Field(examples=["oracle-cdc"])
    account: str | None = Field(default=None, examples=["svc-etl@finance"])
    dimensions: dict[str, float] = Field(examples=[{"tables_replicated": 5}])
    idempotency_key: str | None = Field(
        default=None, description="Reuse on retry; a retried report is counted once."
    )
    occurred_at: str | None = Field(default=None, description="ISO-8601 with time zone")


class UsageResult(Model):
    record_id: int | None
    units: float
    units_by_dimension: dict[str, float]
    state: State
    extension_state: ExtensionState
    license_ids: list[str]
    duplicate: bool
    quarantine_id: int | None = None
    reason: str | None = None


class Charge(Model):
    license_id: str
    period: str
    units: float
    over_units: float


class UsageRecordOut(Model):
    record_id: int
    extension_id: str
    account: str
    idempotency_key: str
    occurred_at: str
    received_at: str
    dimensions: dict[str, float]
    units_by_dimension: dict[str, float]
    units: float
    rates: dict[str, float]
    charges: list[Charge]
    license_ids: list[str]
    extension_state: str
    business_unit_id: str | None
    attribution_method: str | None
    attribution_rule_id: str | None
    attribution_rule_version: int | None
    hash: str


class RecordPage(Model):
    items: list[UsageRecordOut]
    next_cursor: int | None


class ExtensionUsage(Model):
    extension_id: str
    units: float
    share: float
    state: ExtensionState
    uncovered_dimensions: list[str]
    last_report_at: str | None


class DimensionUsage(Model):
    extension_id: str
    dimension: str
    value: float
    units: float


class Window(Model):
    start: str | None
    end: str | None


class Summary(Model):
    state: State
    reason: str
    available_units: float
    used_units: float
    remaining_units: float
    over_units: float
    usage_ratio: float | None
    period_start: str | None
    window: Window
    window_units: float
    extensions: list[ExtensionUsage]
    dimensions: list[DimensionUsage]


class SeriesPoint(Model):
    t: str | None
    units: float
    cumulative: float


class Timeseries(Model):
    bucket: str
    start: str | None
    end: str | None
    capacity_units: float
    warning_units: float
    used_units: float
    state: State
    extension_id: str | None
    points: list[SeriesPoint]


class ExtensionEnforcement(Model):
    state: ExtensionState
    uncovered_dimensions: list[str]


class Enforcement(Model):
    state: State
    reason: str
    available_units: float
    used_units: float
    remaining_units: float
    over_units: float
    evaluated_at: str | None
    extensions: dict[str, ExtensionEnforcement]


class LicenseCostOut(Model):
    amount: str
    currency: str


class LicenseOut(Model):
    license_id: str
    customer: str
    deployment_id: str
    status: Literal["PENDING", "ACTIVE", "GRACE", "EXPIRED", "REVOKED"]
    issued_at: str | None
    valid_from: str | None
    expires_at: str | None
    grace_days: int
    grace_ends_at: str | None
    capacity_units: float
    period: Literal["term", "monthly"]
    current_period: str
    used_units: float
    remaining_units: float
    over_units: float
    rates: dict[str, dict[str, float]]
    cost: LicenseCostOut | None
    revoked_at: str | None
    installed_at: str | None


class QuarantineItem(Model):
    quarantine_id: int
    extension_id: str
    account: str
    idempotency_key: str
    occurred_at: str | None
    received_at: str | None
    dimensions: dict[str, float]
    uncovered_dimensions: list[str]
    reason: str
    status: Literal["held", "replayed"]
    record_id: int | None


class ReplayIn(Model):
    ids: list[StoredId] | None = Field(default=None, max_length=10_000)
    extension_id: str | None = Field(default=None, max_length=64)


class ReplayResult(Model):
    replayed: int
    still_held: int
    record_ids: list[int]


class TokenIn(Model):
    role: Literal["admin", "viewer", "extension"]
    name: str = Field(min_length=1, max_length=128)
    extension_id: str | None = Field(default=None, max_length=64)


class TokenOut(Model):
    token_id: str
    role: str
    extension_id: str | None
    name: str
    created_at: str | None = None
    revoked: bool = False


class WhoAmI(Model):
    """The caller's own token: what the dashboard uses to hide actions a role cannot take."""

    token_id: str
    role: Literal["admin", "viewer", "extension"]
    name: str
    extension_id: str | None


class TokenCreated(Model):
    token: str
    token_info: TokenOut


class MetricValue(Model):
    name: str
    extension_id: str | None
    value: float


class ChainCheck(Model):
    ok: bool
    records: int
    first_bad_record: int | None
    problem: str | None


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem-details errors a route can answer with."""
    return {code: {"model": Problem, "content": {"application/problem+json": {}}} for code in codes}
