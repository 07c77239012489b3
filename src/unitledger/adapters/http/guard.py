"""Load shedding at the HTTP edge: bounded concurrent requests and bounded bodies.

The batch writer already refuses reports past ``max_in_flight`` (429), but by then
the request was accepted and its body read. This guard runs first, before any
body is read or token checked, so a flood costs a few bytes of state per
connection: past ``max_concurrent_requests`` requests in progress a new one is
answered 503 with ``Retry-After``; a body larger than ``max_body_bytes`` is
answered 413, whether it declares its length or is sent chunked; a NUL character
in the query or the body is a 400 naming where (no field accepts one, and
PostgreSQL can neither store nor compare one).
Long-lived event streams are not counted: they hold a connection, not work.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from unitledger.adapters.http.body import PayloadTooLarge
from unitledger.adapters.http.problems import problem_response
from unitledger.errors import Unavailable, UnitledgerError, ValidationFailed

__all__ = ["RequestGuard"]

STREAM_PATHS = frozenset({"/api/v1/enforcement/stream"})


class RequestGuard:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, *, max_concurrent: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.max_body_bytes = max_body_bytes
        self.in_progress = 0
        self.shed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in STREAM_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.max_concurrent:
            self.shed += 1
            await self._refuse(
                Unavailable(
                    f"the server is handling {self.in_progress} requests, its limit; "
                    "retry after the delay in Retry-After",
                    retry_after=1,
                ),
                scope,
                receive,
                send,
            )
            return
        self.in_progress += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _has_nul(scope.get("query_string", b"")) or "\x00" in scope["path"]:
            await self._refuse(_nul_error("query"), scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._refuse(self._too_large(declared.decode("latin-1")), scope, receive, send)
            return
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if not chunked and declared in (None, b"0"):
            await self.app(scope, receive, send)
            return
        # The body (at most max_body_bytes) is read here, then handed on as one message.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_bytes:
                await self._refuse(self._too_large(None), scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        if b"\x00" in body or b"\\u0000" in body:
            await self._refuse(_nul_error(_nul_field(bytes(body))), scope, receive, send)
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_large(self, declared: str | None) -> PayloadTooLarge:
        size = f"{declared} bytes" if declared is not None else "larger than that"
        return PayloadTooLarge(
            f"the body is {size}; at most {self.max_body_bytes} bytes are accepted",
            field="body",
        )

    @staticmethod
    async def _refuse(error: UnitledgerError, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(error, scope["path"])
        # Close the connection: an unread body must not be taken for the next request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _has_nul(query: bytes) -> bool:
    """NUL, raw or percent-encoded: no parameter accepts it, and PostgreSQL cannot compare it."""
    return b"\x00" in query or b"%00" in query


def _nul_error(where: str) -> ValidationFailed:
    return ValidationFailed(
        f"{where} contains a NUL character, which no field accepts", field=where
    )


def _nul_field(body: bytes) -> str:
    """The dotted path of the first JSON string holding a NUL, else ``body``."""

    def find(value: Any, path: str) -> str | None:
        if isinstance(value, str):
            return path if "\x00" in value else None
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return None
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                return path or "body"
            found = find(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None

    try:
        return find(json.loads(body), "") or "body"
    except (ValueError, RecursionError):
        return "body"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
