"""Request dependencies: the service, the caller's identity, failed-auth throttling."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from unitledger.bootstrap import Runtime
from unitledger.errors import Overloaded, Unauthorized
from unitledger.service.auth import Principal, Role, require
from unitledger.service.service import UnitledgerService

__all__ = ["Admin", "Caller", "Service", "Viewer", "runtime_of"]

bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer ul_…`")


class AuthThrottle:
    """Refuses a client after too many failed authentications in the last minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def check(self, client: str) -> None:
        window = self._failures.get(client)
        if not window:
            return
        cutoff = time.monotonic() - 60
        while window and window[0] < cutoff:
            window.popleft()
        if len(window) >= self.per_minute:
            raise Overloaded(
                "too many failed authentication attempts from this address; wait a minute",
                retry_after=60,
            )

    def failed(self, client: str) -> None:
        self._failures[client].append(time.monotonic())
        if len(self._failures) > 10_000:
            self._failures.clear()


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_service(request: Request) -> UnitledgerService:
    return runtime_of(request).service


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    throttle: AuthThrottle = request.app.state.auth_throttle
    client = request.client.host if request.client else "unknown"
    throttle.check(client)
    service = get_service(request)
    token = credentials.credentials if credentials else request.query_params.get("access_token")
    # Remembered tokens are answered on the event loop; others need one database read.
    if token and (known := service.cached_principal(token)) is not None:
        return known
    try:
        return await asyncio.to_thread(service.authenticate, token)
    except Unauthorized:
        throttle.failed(client)
        raise


def get_viewer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    require(principal, Role.ADMIN, Role.VIEWER)
    return principal


def get_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    require(principal, Role.ADMIN)
    return principal


Service = Annotated[UnitledgerService, Depends(get_service)]
Caller = Annotated[Principal, Depends(get_principal)]
Viewer = Annotated[Principal, Depends(get_viewer)]
Admin = Annotated[Principal, Depends(get_admin)]
