"""Unauthenticated endpoints: ping, health, readiness, info."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from unitledger import __version__
from unitledger.adapters.http.deps import runtime_of
from unitledger.adapters.http.models import Health, Info, Message

router = APIRouter(tags=["system"])


@router.get("/ping", response_model=Message)
def ping() -> Message:
    return Message(message="pong")


def _check(request: Request) -> Health:
    runtime = runtime_of(request)
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("select 1"))
        database = "ok"
    except Exception as exc:
        database = f"error: {type(exc).__name__}"
    nats = runtime.nats_status()
    ok = database == "ok" and nats in ("ok", "disabled")
    return Health(
        status="ok" if ok else "degraded", database=database, nats=nats, version=__version__
    )


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request) -> JSONResponse:
    """Liveness: 200 when the database and NATS answer, else 503 with what failed."""
    result = _check(request)
    return JSONResponse(result.model_dump(), status_code=200 if result.status == "ok" else 503)


@router.get("/ready", response_model=Health, responses={503: {"model": Health}})
def ready(request: Request) -> JSONResponse:
    """Readiness: like health, and 503 while the server is starting or draining."""
    result = _check(request)
    accepting = getattr(request.app.state, "accepting", True)
    ok = result.status == "ok" and accepting
    return JSONResponse(result.model_dump(), status_code=200 if ok else 503)


@router.get("/info", response_model=Info)
def info(request: Request) -> Info:
    runtime = runtime_of(request)
    from cryptography.hazmat.primitives import serialization

    raw = runtime.service.identity.public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return Info(
        name="unitledger",
        version=__version__,
        deployment_id=runtime.service.deployment_id,
        nats_url=runtime.nats_url(),
        public_key=base64.b64encode(raw).decode(),
    )
