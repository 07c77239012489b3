"""The FastAPI application: routers under /api/v1, metrics, the SSE stream, the dashboard."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from sse_starlette.sse import EventSourceResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from unitledger import __version__
from unitledger.adapters.http.deps import AuthThrottle, Caller, Service
from unitledger.adapters.http.guard import RequestGuard
from unitledger.adapters.http.metrics import MetricsRegistry
from unitledger.adapters.http.models import problem_responses
from unitledger.adapters.http.problems import install_problem_handlers
from unitledger.adapters.http.routes import (
    admin,
    attribution,
    extensions,
    licenses,
    session,
    system,
    usage,
)
from unitledger.bootstrap import Runtime

__all__ = ["create_app"]

WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

USAGE_CHECK_SECONDS = 1.0  # how often an SSE stream looks for new usage between state changes

stream_router = APIRouter(tags=["enforcement"])


@stream_router.get("/enforcement/stream", responses=problem_responses(401, 403))
async def enforcement_stream(
    request: Request, service: Service, principal: Caller
) -> EventSourceResponse:
    """Server-sent events: a ``state`` event with the current state, then one
    ``enforcement`` event per change, and a ``usage`` event (same shape as ``state``)
    within a second of units used or available changing without a state change.
    An extension token hears of the global state and its own extension only.
    Browsers may pass the token as ``access_token``."""
    runtime: Runtime = request.app.state.runtime

    async def events() -> AsyncIterator[dict[str, str]]:
        async with runtime.broadcaster.subscribe() as queue:
            current = await asyncio.to_thread(service.enforcement, principal)
            yield {"event": "state", "data": json.dumps(current)}
            seen = _totals(current)
            next_check = time.monotonic() + USAGE_CHECK_SECONDS
            while True:
                wait = max(next_check - time.monotonic(), 0.0)
                try:
                    change = await asyncio.wait_for(queue.get(), timeout=wait)
                except TimeoutError:
                    next_check = time.monotonic() + USAGE_CHECK_SECONDS
                    current = await asyncio.to_thread(service.enforcement, principal)
                    if _totals(current) != seen:
                        seen = _totals(current)
                        yield {"event": "usage", "data": json.dumps(current)}
                    continue
                if service.may_see(principal, change):
                    yield {"event": "enforcement", "data": json.dumps(change.to_dict())}

    return EventSourceResponse(events(), ping=15)


def _totals(enforcement: dict[str, Any]) -> tuple[object, ...]:
    return (enforcement["state"], enforcement["available_units"], enforcement["used_units"])


class _Timing:
    """Adapter so Starlette's middleware stack can build the metrics middleware."""

    def __init__(self, app: ASGIApp, registry: MetricsRegistry) -> None:
        self.app = registry.middleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(runtime: Runtime, *, manage_service: bool = True) -> FastAPI:
    """Build the ASGI app. With ``manage_service`` the app starts and stops the service."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_service:
            await runtime.service.start()
        app.state.accepting = True
        try:
            yield
        finally:
            app.state.accepting = False
            if manage_service:
                await runtime.service.stop()
            if runtime.chargeback is not None:
                await runtime.chargeback.close()

    app = FastAPI(
        title="unitledger",
        version=__version__,
        description="Meter, enforce and attribute licensed capacity used by extensions.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.accepting = False
    app.state.auth_throttle = AuthThrottle(runtime.settings.auth_failures_per_minute)
    install_problem_handlers(app)
    metrics = MetricsRegistry(runtime.service)
    app.add_middleware(_Timing, registry=metrics)
    # Outermost: sheds load before a body is read or a token checked.
    app.add_middleware(
        RequestGuard,
        max_concurrent=runtime.settings.max_concurrent_requests,
        max_body_bytes=runtime.settings.max_body_bytes,
    )

    # Each router is included straight into the app: nesting included routers makes this
    # FastAPI version rebuild route contexts on every request (a measured 5x slowdown).
    # The reporting route is matched first: route matching is linear and it is the hot path.
    modules = (usage, system, licenses, admin, session, attribution, extensions)
    routers = [*(m.router for m in modules), stream_router, *runtime.extra_routers]
    for router in routers:
        app.include_router(router, prefix="/api/v1")

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    _mount_dashboard(app)
    return app


def _mount_dashboard(app: FastAPI) -> None:
    index = WEB_DIST / "index.html"
    if (WEB_DIST / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=WEB_DIST / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    def dashboard() -> Response:
        if index.exists():
            return FileResponse(index)
        return Response(
            "<!doctype html><title>unitledger</title><p>The dashboard is not built. "
            "Run <code>make web</code>; the API is at <a href='/api/v1/docs'>/api/v1/docs</a>.",
            media_type="text/html",
        )
