"""Extensions: what the ledger knows of each, and whether it is connected right now."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from unitledger.adapters.http.deps import Service, Viewer, runtime_of
from unitledger.adapters.http.models import problem_responses

__all__ = ["ExtensionOut", "InstanceOut", "router"]

router = APIRouter(tags=["extensions"])

_SEVERITY = {"OK": 0, "WARNING": 1, "ERROR": 2}


class InstanceOut(BaseModel):
    """One running process of an extension, as its last heartbeat says."""

    instance_id: str
    status: Literal["OK", "WARNING", "ERROR"]
    sdk: str
    host: str
    pid: int | None
    last_report_at: str | None
    last_heartbeat_at: str = Field(description="When the heartbeat bucket stored the last beat.")
    expires_at: str = Field(description="When the instance counts as gone without another beat.")


class ExtensionOut(BaseModel):
    """An extension seen in reports or heartbeats."""

    extension_id: str
    connection: Literal["connected", "inactive"] = Field(
        description="connected while at least one instance's heartbeat is younger than the TTL"
    )
    health: Literal["OK", "WARNING", "ERROR"] | None = Field(
        description="the worst status among connected instances; null when inactive"
    )
    state: str = Field(description="enforcement state: OK, WARNING, UNLICENSED or DISABLED")
    units: float
    share: float
    uncovered_dimensions: list[str]
    last_report_at: str | None
    last_heartbeat_at: str | None
    instances: list[InstanceOut]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


@router.get("/extensions", response_model=list[ExtensionOut], responses=problem_responses(401, 403))
async def extensions(request: Request, service: Service, _: Viewer) -> list[dict[str, Any]]:
    """Every known extension with its units in the current period, its enforcement state
    and its live instances (from the heartbeat bucket; TTL ``heartbeat_ttl_seconds``)."""
    known = {row["extension_id"]: row for row in await asyncio.to_thread(service.extensions)}
    source = runtime_of(request).heartbeats
    live = list(source.instances(time.time())) if source is not None else []
    ttl = source.ttl if source is not None else 0.0
    global_state = (await asyncio.to_thread(service.enforcement))["state"]
    by_extension: dict[str, list[Any]] = {}
    for instance in live:
        by_extension.setdefault(instance.extension_id, []).append(instance)
    result = []
    for ext_id in sorted(set(known) | set(by_extension)):
        row = known.get(ext_id, {})
        instances = by_extension.get(ext_id, [])
        worst = max((i.status for i in instances), key=_SEVERITY.__getitem__, default=None)
        result.append(
            {
                "extension_id": ext_id,
                "connection": "connected" if instances else "inactive",
                "health": worst,
                "state": row.get("state", global_state),
                "units": row.get("units", 0.0),
                "share": row.get("share", 0.0),
                "uncovered_dimensions": row.get("uncovered_dimensions", []),
                "last_report_at": row.get("last_report_at")
                or max((i.last_report_at for i in instances if i.last_report_at), default=None),
                "last_heartbeat_at": _iso(max(i.seen for i in instances)) if instances else None,
                "instances": [
                    {
                        "instance_id": i.instance_id,
                        "status": i.status,
                        "sdk": i.sdk,
                        "host": i.host,
                        "pid": i.pid,
                        "last_report_at": i.last_report_at,
                        "last_heartbeat_at": _iso(i.seen),
                        "expires_at": _iso(i.seen + ttl),
                    }
                    for i in instances
                ],
            }
        )
    return result
