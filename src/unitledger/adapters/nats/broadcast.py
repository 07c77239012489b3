"""Enforcement changes out to NATS (subjects + KV bucket), and back in from other replicas."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from unitledger.adapters.broadcast import LocalBroadcaster
from unitledger.adapters.nats.subjects import ENFORCEMENT_PREFIX, enforcement_subject
from unitledger.service.ports import StateChange

__all__ = ["EnforcementRelay", "NatsPublisher", "SeenStates", "state_change_from_dict"]

log = logging.getLogger(__name__)

ORIGIN_HEADER = "Unitledger-Replica"


def state_change_from_dict(body: dict[str, Any]) -> StateChange:
    """The inverse of ``StateChange.to_dict`` (raises KeyError/ValueError on a bad body)."""
    extension_id = body["extension_id"]
    return StateChange(
        scope=str(body["scope"]),
        extension_id=None if extension_id is None else str(extension_id),
        state=str(body["state"]),
        previous=body.get("previous_state"),
        reason=str(body.get("reason", "")),
        changed_at=datetime.fromisoformat(str(body["changed_at"]).replace("Z", "+00:00")),
        seq=int(body["seq"]),
        uncovered_dimensions=tuple(str(d) for d in body.get("uncovered_dimensions", ())),
    )


class SeenStates:
    """The highest ``seq`` seen per state key, shared by the publisher and the relay."""

    def __init__(self) -> None:
        self._seq: dict[str, int] = {}

    def fresh(self, change: StateChange) -> bool:
        """Record ``change`` and say whether it is newer than anything seen for its key."""
        if self._seq.get(change.key, 0) >= change.seq:
            return False
        self._seq[change.key] = change.seq
        return True


class NatsPublisher:
    """A ``Publisher``: each change to its subject, and into the current-state KV bucket."""

    def __init__(self, nc: Any, kv: Any, seen: SeenStates, replica_id: str | None = None) -> None:
        self.nc = nc
        self.kv = kv
        self.seen = seen
        self.replica_id = replica_id or secrets.token_hex(8)
        self.published = 0

    async def publish(self, changes: Sequence[StateChange]) -> None:
        for change in changes:
            self.seen.fresh(change)
            body = json.dumps(change.to_dict(), separators=(",", ":")).encode()
            await self.nc.publish(
                enforcement_subject(change.key), body, headers={ORIGIN_HEADER: self.replica_id}
            )
            await self.kv.put(change.key, body)
            self.published += 1


class EnforcementRelay:
    """Hands changes announced by other replicas to this replica's SSE subscribers."""

    def __init__(self, broadcaster: LocalBroadcaster, seen: SeenStates, replica_id: str) -> None:
        self.broadcaster = broadcaster
        self.seen = seen
        self.replica_id = replica_id
        self.relayed = 0

    async def start(self, nc: Any) -> None:
        self._sub = await nc.subscribe(f"{ENFORCEMENT_PREFIX}>", cb=self._on_message)

    async def _on_message(self, msg: Any) -> None:
        if (msg.headers or {}).get(ORIGIN_HEADER) == self.replica_id:
            return
        try:
            change = state_change_from_dict(json.loads(msg.data))
        except (KeyError, ValueError, TypeError):
            log.warning("ignored a malformed enforcement change on %s", msg.subject)
            return
        if self.seen.fresh(change):
            self.relayed += 1
            await self.broadcaster.publish([change])
