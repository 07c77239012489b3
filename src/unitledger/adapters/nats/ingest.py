"""The report responder: ``unitledger.v1.report.<extension_id>`` in queue group ``unitledger-ingest``.

It only translates: bytes → JSON → ``service.report_usage`` → reply body. The
token in the ``Authorization`` header is checked on every message, because an
external NATS server does not know unitledger tokens.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from unitledger.adapters.nats.replies import error_reply, ok_reply
from unitledger.adapters.nats.subjects import INGEST_QUEUE, REPORT_PREFIX
from unitledger.errors import InvalidReport, UnitledgerError
from unitledger.service.service import UnitledgerService

__all__ = ["ReportResponder"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024


def bearer(headers: dict[str, str] | None) -> str | None:
    value = (headers or {}).get("Authorization") or (headers or {}).get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class ReportResponder:
    """Serves report requests; every replica joins the same queue group."""

    def __init__(self, service: UnitledgerService, *, max_payload: int = MAX_PAYLOAD) -> None:
        self.service = service
        self.max_payload = max_payload
        self._tasks: set[asyncio.Task[None]] = set()
        self._sub: Any = None
        self.handled = 0

    async def start(self, nc: Any) -> None:
        self._sub = await nc.subscribe(
            f"{REPORT_PREFIX}*", queue=INGEST_QUEUE, cb=self._on_message, pending_msgs_limit=200_000
        )

    async def stop(self) -> None:
        """Stop taking requests and wait for the ones in progress to be answered."""
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # the connection may already be gone
                log.debug("unsubscribe failed", exc_info=True)
            self._sub = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _on_message(self, msg: Any) -> None:
        # nats-py runs one callback at a time per subscription: hand each message to its
        # own task so reports are processed concurrently and group-committed together.
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: Any) -> None:
        if not msg.reply:
            return
        try:
            body = await self.handle(msg.subject, msg.data, msg.headers)
        except Exception as exc:  # every failure becomes an error reply
            body = error_reply(exc)
        try:
            await msg.respond(body)
        except Exception:  # the requester may have gone away
            log.debug("could not answer a report request", exc_info=True)

    async def handle(self, subject: str, data: bytes, headers: dict[str, str] | None) -> bytes:
        """Process one request and return the reply body (errors included)."""
        self.handled += 1
        try:
            principal = self.service.authenticate(bearer(headers))
            report = self.service.parse(self.decode(data))
            subject_ext = subject[len(REPORT_PREFIX) :]
            if report.extension_id != subject_ext:
                raise InvalidReport(
                    f"extension_id {report.extension_id!r} does not match the subject's "
                    f"extension {subject_ext!r}",
                    field="extension_id",
                )
            outcome = await self.service.submit(report, principal)
        except UnitledgerError as exc:
            return error_reply(exc)
        return ok_reply(outcome)

    def decode(self, data: bytes) -> object:
        if len(data) > self.max_payload:
            raise InvalidReport(
                f"the report is {len(data)} bytes; at most {self.max_payload} are accepted",
                field="body",
            )
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InvalidReport("the report is not valid JSON", field="body") from None
