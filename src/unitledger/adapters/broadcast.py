"""In-process fan-out of enforcement changes (SSE streams), and publisher composition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from unitledger.service.ports import Publisher, StateChange

__all__ = ["FanoutPublisher", "LocalBroadcaster"]


class LocalBroadcaster:
    """Hands every change to each subscriber's bounded queue; slow subscribers lose old items."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[StateChange]] = set()
        self._queue_size = queue_size

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def publish(self, changes: Sequence[StateChange]) -> None:
        for queue in list(self._subscribers):
            for change in changes:
                if queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(change)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[StateChange]]:
        queue: asyncio.Queue[StateChange] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


class FanoutPublisher:
    """Publishes to several publishers; one failing does not stop the others."""

    def __init__(self, *publishers: Publisher) -> None:
        self.publishers = list(publishers)

    def add(self, publisher: Publisher) -> None:
        self.publishers.append(publisher)

    async def publish(self, changes: Sequence[StateChange]) -> None:
        results = await asyncio.gather(
            *(p.publish(changes) for p in self.publishers), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
