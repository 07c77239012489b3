"""The report responder: ``unitledger.v1.report.<extension_id>`` in queue group ``unitledger-ingest``.

It only translates: bytes → JSON → ``service.enqueue`` → reply body. The
token in the ``Authorization`` header is checked on every message, because an
external NATS server does not know unitledger tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from functools import partial
from typing import Any

import orjson

from unitledger.adapters.nats.replies import error_reply, ok_reply
from unitledger.adapters.nats.subjects import INGEST_QUEUE, REPORT_PREFIX
from unitledger.domain import UsageReport
from unitledger.errors import InvalidReport, UnitledgerError
from unitledger.service.auth import Principal
from unitledger.service.ingest import ReportOutcome
from unitledger.service.service import UnitledgerService

__all__ = ["ReportResponder"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024

Accepted = tuple[UsageReport, Principal]


def bearer(headers: dict[str, str] | None) -> str | None:
    value = (headers or {}).get("Authorization") or (headers or {}).get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class ReportResponder:
    """Serves report requests; every replica joins the same queue group.

    No task per request: the subscription callback validates the request and
    queues the report with a completion callback; when its batch commits, the
    reply is put in an outbox that one task publishes in order.
    """

    def __init__(self, service: UnitledgerService, *, max_payload: int = MAX_PAYLOAD) -> None:
        self.service = service
        self.max_payload = max_payload
        self._sub: Any = None
        self._nc: Any = None
        self._outbox: list[tuple[str, bytes]] = []
        self._wakeup = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._waiting = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.handled = 0

    async def start(self, nc: Any) -> None:
        self._nc = nc
        self._sender = asyncio.create_task(self._send_replies(), name="unitledger-report-replies")
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
        await self._idle.wait()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None

    async def _on_message(self, msg: Any) -> None:
        # nats-py awaits this once per message, in order; it never waits for storage.
        reply = msg.reply
        if not reply:
            return
        self.handled += 1
        try:
            report, principal = self.accept(msg.subject, msg.data, msg.headers)
            self._waiting += 1
            self._idle.clear()
            try:
                self.service.enqueue(report, principal, partial(self._answer, reply))
            except BaseException:
                self._settled()
                raise
        except Exception as exc:  # every failure becomes an error reply
            self._post(reply, error_reply(exc))

    def accept(self, subject: str, data: bytes, headers: dict[str, str] | None) -> Accepted:
        """Authenticate and validate one request: the report and who sent it."""
        principal = self.service.authenticate(bearer(headers))
        report = self.service.parse(self.decode(data))
        subject_ext = subject[len(REPORT_PREFIX) :]
        if report.extension_id != subject_ext:
            raise InvalidReport(
                f"extension_id {report.extension_id!r} does not match the subject's "
                f"extension {subject_ext!r}",
                field="extension_id",
            )
        return report, principal

    async def handle(self, subject: str, data: bytes, headers: dict[str, str] | None) -> bytes:
        """Process one request and return the reply body (errors included)."""
        self.handled += 1
        try:
            report, principal = self.accept(subject, data, headers)
            outcome = await self.service.submit(report, principal)
        except UnitledgerError as exc:
            return error_reply(exc)
        return ok_reply(outcome)

    def _answer(self, reply: str, outcome: ReportOutcome | UnitledgerError) -> None:
        try:
            body = (
                error_reply(outcome) if isinstance(outcome, UnitledgerError) else ok_reply(outcome)
            )
            self._post(reply, body)
        finally:
            self._settled()

    def _settled(self) -> None:
        self._waiting -= 1
        if self._waiting == 0 and not self._outbox:
            self._idle.set()

    def _post(self, reply: str, body: bytes) -> None:
        self._outbox.append((reply, body))
        self._idle.clear()
        self._wakeup.set()

    async def _send_replies(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox:
                batch, self._outbox = self._outbox, []
                for reply, body in batch:
                    try:
                        await self._nc.publish(reply, body)
                    except Exception:  # the requester may have gone away
                        log.debug("could not answer a report request", exc_info=True)
            if self._waiting == 0:
                self._idle.set()

    def decode(self, data: bytes) -> object:
        if len(data) > self.max_payload:
            raise InvalidReport(
                f"the report is {len(data)} bytes; at most {self.max_payload} are accepted",
                field="body",
            )
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        # What orjson refuses but the json module reads (NaN, integers past 64 bits)
        # gets the same answer as before: parse_report names the field at fault.
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InvalidReport("the report is not valid JSON", field="body") from None
