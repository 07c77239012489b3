"""Watches the heartbeat bucket: which extension instances are alive right now."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["HeartbeatWatcher", "Instance"]

log = logging.getLogger(__name__)

STATUSES = frozenset({"OK", "WARNING", "ERROR"})


@dataclass(frozen=True, slots=True)
class Instance:
    """One running extension process, as its last heartbeat describes it."""

    extension_id: str
    instance_id: str
    status: str
    sdk: str
    host: str
    pid: int | None
    last_report_at: str | None
    at: str
    seen: float  # wall-clock seconds when the bucket stored the heartbeat


def parse_heartbeat(key: str, value: bytes, seen: float) -> Instance | None:
    """The instance a heartbeat value describes, or None when it breaks the protocol."""
    try:
        body = json.loads(value)
        extension_id, instance_id = str(body["extension_id"]), str(body["instance_id"])
        status = str(body["status"])
    except (KeyError, ValueError, TypeError):
        return None
    if key != f"{extension_id}.{instance_id}" or status not in STATUSES:
        return None
    pid = body.get("pid")
    return Instance(
        extension_id=extension_id,
        instance_id=instance_id,
        status=status,
        sdk=str(body.get("sdk", "")),
        host=str(body.get("host", "")),
        pid=pid if isinstance(pid, int) else None,
        last_report_at=body.get("last_report_at"),
        at=str(body.get("at", "")),
        seen=seen,
    )


class HeartbeatWatcher:
    """Keeps the latest heartbeat per key; an instance is alive until its TTL passes.

    Expiry is decided from the stored time, so it does not depend on the bucket
    announcing expirations (external NATS servers may not).
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._instances: dict[str, Instance] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self, kv: Any) -> None:
        self._watcher = await kv.watchall()
        self._task = asyncio.create_task(self._run(), name="unitledger-heartbeat-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._watcher.stop()

    async def _run(self) -> None:
        async for entry in self._watcher:
            if entry is None:  # the end of the initial values
                continue
            self.apply(entry.key, entry.value, entry.operation, _seconds(entry.created))

    def apply(self, key: str, value: bytes | None, operation: str | None, seen: float) -> None:
        if operation in ("DEL", "PURGE") or not value:
            self._instances.pop(key, None)
            return
        instance = parse_heartbeat(key, value, seen)
        if instance is None:
            log.warning("ignored a heartbeat that breaks the protocol under key %s", key)
            return
        self._instances[key] = instance

    def instances(self, now: float | None = None) -> list[Instance]:
        """Instances whose last heartbeat is younger than the TTL."""
        now = time.time() if now is None else now
        alive = [i for i in self._instances.values() if now - i.seen < self.ttl]
        return sorted(alive, key=lambda i: (i.extension_id, i.instance_id))


def _seconds(created: Any) -> float:
    """The stored time of an entry (a datetime from the JetStream metadata)."""
    if isinstance(created, datetime):
        return created.timestamp()
    return time.time()
