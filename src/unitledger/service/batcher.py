"""Group commit: many concurrent reports, one transaction, acknowledged after commit.

Reports queue up while the previous batch commits; the writer then takes up to
``max_size`` of them at once. Each caller's future resolves only after the
batch's transaction committed, so an acknowledgement means durably stored.
Beyond ``max_in_flight`` waiting reports, new ones are refused with
:class:`~unitledger.errors.Overloaded` (retryable) instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from unitledger.domain import UsageReport
from unitledger.errors import Overloaded, Unavailable, UnitledgerError
from unitledger.service.ingest import BatchResult, ReportOutcome

__all__ = ["BatchWriter", "Done"]

log = logging.getLogger(__name__)


Done = Callable[[ReportOutcome | UnitledgerError], None]


@dataclass(slots=True)
class _Pending:
    """A queued report and whom to tell: a future to resolve, or a callback to call."""

    report: UsageReport
    future: asyncio.Future[ReportOutcome] | None = None
    done: Done | None = None

    def settle(self, outcome: ReportOutcome | UnitledgerError) -> None:
        if self.done is not None:
            try:
                self.done(outcome)
            except Exception:
                log.exception("a report callback failed")
            return
        future = self.future
        if future is None or future.done():
            return  # the caller went away; the report is stored all the same
        if isinstance(outcome, UnitledgerError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class BatchWriter:
    """Serialises report batches through ``apply`` (run in a worker thread)."""

    def __init__(
        self,
        apply: Callable[[Sequence[UsageReport]], BatchResult],
        *,
        on_committed: Callable[[BatchResult], Awaitable[None]] | None = None,
        max_size: int = 1000,
        max_delay: float = 0.002,
        max_in_flight: int = 20_000,
    ) -> None:
        self._apply = apply
        self._on_committed = on_committed
        self._max_size = max_size
        self._max_delay = max_delay
        self._max_in_flight = max_in_flight
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0
        self.committed = 0

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="unitledger-batch-writer")

    async def stop(self) -> None:
        """Stop taking reports, commit what is queued, then return."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    def _admit(self) -> None:
        if self._closing:
            raise Unavailable(
                "the server is shutting down; retry against another replica", retry_after=1
            )
        if len(self._queue) >= self._max_in_flight:
            raise Overloaded(
                f"{len(self._queue)} reports are waiting to be stored; retry shortly",
                retry_after=0.5,
            )

    async def submit(self, report: UsageReport) -> ReportOutcome:
        """Queue ``report`` and wait until its batch committed.

        Cancelling the wait does not withdraw the report: it is stored with its batch.
        """
        self._admit()
        future: asyncio.Future[ReportOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(report, future))
        self._wakeup.set()
        return await future

    def enqueue(self, report: UsageReport, done: Done) -> None:
        """Queue ``report``; ``done`` gets its outcome (or error) once its batch committed.

        For callers that answer many reports without a task each (the NATS responder).
        ``done`` runs on the event loop and must not block. Raises
        :class:`~unitledger.errors.Overloaded` or :class:`~unitledger.errors.Unavailable`
        at once instead of queueing.
        """
        self._admit()
        self._queue.append(_Pending(report, done=done))
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._max_delay and len(self._queue) < self._max_size and not self._closing:
                await asyncio.sleep(self._max_delay)
            batch = self._queue[: self._max_size]
            del self._queue[: self._max_size]
            await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            result = await asyncio.to_thread(self._apply, [p.report for p in batch])
        except UnitledgerError as exc:
            log.warning("batch of %d reports failed: %s", len(batch), exc)
            self._fail(batch, exc)
            return
        except Exception as exc:
            log.exception("batch of %d reports could not be stored", len(batch))
            self._fail(
                batch, Unavailable(f"the report could not be stored ({type(exc).__name__}); retry")
            )
            return
        self.batches += 1
        self.committed += result.records
        for pending, outcome in zip(batch, result.outcomes, strict=True):
            pending.settle(outcome)
        if self._on_committed is not None:
            with contextlib.suppress(Exception):
                await self._on_committed(result)

    @staticmethod
    def _fail(batch: list[_Pending], error: UnitledgerError) -> None:
        for pending in batch:
            pending.settle(error)
