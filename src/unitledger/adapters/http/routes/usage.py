"""Reporting usage and reading it back: records, summary, time series, enforcement."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request

from unitledger.adapters.http.body import read_json
from unitledger.adapters.http.deps import Caller, Service, Viewer
from unitledger.adapters.http.models import (
    MAX_STORED_ID,
    Enforcement,
    MetricValue,
    RecordPage,
    Summary,
    Timeseries,
    UsageRecordOut,
    UsageReportIn,
    UsageResult,
    problem_responses,
)
from unitledger.adapters.storage.queries import RecordFilter
from unitledger.domain import to_micros
from unitledger.errors import NotFound

router = APIRouter(tags=["usage"])


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.post(
    "/usage",
    response_model=UsageResult,
    responses=problem_responses(400, 401, 403, 409, 413, 429, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": UsageReportIn.model_json_schema()}},
        }
    },
)
async def report_usage(
    request: Request,
    service: Service,
    principal: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, Any]:
    """Report usage; answered once the record is durably stored.

    Send ``idempotency_key`` (body) or an ``Idempotency-Key`` header and reuse it on
    retry: a retried report is counted once. Without either, the server makes one up
    and a retry would count twice.
    """
    raw = await read_json(request)
    if isinstance(raw, dict) and "idempotency_key" not in raw and idempotency_key:
        raw = {**raw, "idempotency_key": idempotency_key}
    outcome = await service.report_usage(
        raw, principal, default_key="http-" + secrets.token_hex(12)
    )
    return outcome.to_dict()


@router.get("/usage/records", response_model=RecordPage, responses=problem_responses(400, 401, 403))
def records(
    service: Service,
    _: Viewer,
    extension_id: Annotated[str | None, Query(max_length=64)] = None,
    account: Annotated[str | None, Query(max_length=128)] = None,
    business_unit_id: Annotated[str | None, Query(max_length=64)] = None,
    unattributed: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    cursor: Annotated[int | None, Query(ge=0, le=MAX_STORED_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Usage records, newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    s, e = utc(start), utc(end)
    f = RecordFilter(
        extension_id=extension_id,
        account=account,
        start_us=to_micros(s) if s else None,
        end_us=to_micros(e) if e else None,
        business_unit_id=business_unit_id,
        unattributed=unattributed,
    )
    return service.records(f, cursor, limit)


@router.get(
    "/usage/records/{record_id}",
    response_model=UsageRecordOut,
    responses=problem_responses(401, 403, 404),
)
def record(
    record_id: Annotated[int, Path(ge=0, le=MAX_STORED_ID)], service: Service, _: Viewer
) -> dict[str, Any]:
    found = service.queries.record(record_id)
    if found is None:
        raise NotFound(f"no usage record with id {record_id}", field="record_id")
    return found


@router.get("/usage/summary", response_model=Summary, responses=problem_responses(400, 401, 403))
def summary(
    service: Service, _: Viewer, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Capacity, units used and state; units per extension and dimension over a window
    (default: the current license period)."""
    return service.summary(utc(start), utc(end))


@router.get(
    "/usage/timeseries", response_model=Timeseries, responses=problem_responses(400, 401, 403)
)
def timeseries(
    service: Service,
    _: Viewer,
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: Annotated[str, Query(pattern="^(auto|hour|day|week)$")] = "auto",
    extension_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Cumulative units per bucket with capacity and warning lines, for the usage chart."""
    return service.timeseries(utc(start), utc(end), bucket, extension_id)


@router.get("/enforcement", response_model=Enforcement, responses=problem_responses(401, 403))
def enforcement(service: Service, principal: Caller) -> dict[str, Any]:
    """Current global state and every known extension's state (an extension token: its own)."""
    return service.enforcement(principal)


@router.get(
    "/metrics/{name}", response_model=MetricValue, responses=problem_responses(401, 403, 404)
)
def metric(
    name: str,
    service: Service,
    _: Viewer,
    extension_id: Annotated[str | None, Query(max_length=64)] = None,
) -> MetricValue:
    """One scalar ``licensing.*`` metric (what ``observability query_scalar_metrics`` prints)."""
    return MetricValue(
        name=name, extension_id=extension_id, value=service.metric(name, extension_id)
    )
