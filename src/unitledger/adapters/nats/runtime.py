"""The NATS side of a running server: connection, embedded server, responder, broadcast, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.js.api import KeyValueConfig, StorageType

from unitledger.adapters.broadcast import FanoutPublisher, LocalBroadcaster
from unitledger.adapters.nats.broadcast import EnforcementRelay, NatsPublisher, SeenStates
from unitledger.adapters.nats.callout import AuthCallout
from unitledger.adapters.nats.embedded import INTERNAL_USER, EmbeddedNats, EmbeddedNatsConfig
from unitledger.adapters.nats.heartbeats import HeartbeatWatcher
from unitledger.adapters.nats.ingest import ReportResponder
from unitledger.adapters.nats.nkeys import AccountKey
from unitledger.adapters.nats.subjects import ENFORCEMENT_BUCKET, HEARTBEAT_BUCKET
from unitledger.config import Settings
from unitledger.service.ports import StateChange
from unitledger.service.service import UnitledgerService

__all__ = ["NatsRuntime", "public_url"]

log = logging.getLogger(__name__)


def public_url(url: str) -> str:
    """``url`` without credentials, fit to show on /info."""
    shown = []
    for part in url.split(","):
        parsed = urlsplit(part.strip())
        netloc = f"{parsed.hostname}:{parsed.port or 4222}" if parsed.hostname else parsed.netloc
        shown.append(urlunsplit(parsed._replace(netloc=netloc)))
    return ",".join(shown)


async def ensure_bucket(js: Any, name: str, *, ttl: float | None, replicas: int = 1) -> Any:
    """Create a history-1 KV bucket, or bring an existing one's TTL and replica count
    in line with settings (a bucket on a NATS cluster survives a lost node with R3)."""
    config = KeyValueConfig(
        bucket=name, history=1, ttl=ttl, storage=StorageType.FILE, replicas=replicas
    )
    try:
        return await js.create_key_value(config)
    except nats.js.errors.BadRequestError:
        info = await js.stream_info(f"KV_{name}")
        wanted = ttl or 0.0
        if (info.config.max_age or 0.0) != wanted or info.config.num_replicas != replicas:
            info.config.max_age = wanted
            info.config.num_replicas = replicas
            await js.update_stream(info.config)
        return await js.key_value(name)


class NatsRuntime:
    """Starts in order: embedded server (unless external), connection, buckets, auth
    callout, publisher, relay, heartbeat watcher, and last the report responder."""

    def __init__(
        self,
        settings: Settings,
        service: UnitledgerService,
        broadcaster: LocalBroadcaster,
        publisher: FanoutPublisher,
    ) -> None:
        self.settings = settings
        self.service = service
        self.broadcaster = broadcaster
        self.fanout = publisher
        self.embedded: EmbeddedNats | None = None
        self.nc: Any = None
        self.callout: AuthCallout | None = None
        self.responder = ReportResponder(service, max_payload=settings.max_body_bytes)
        self.heartbeats = HeartbeatWatcher(settings.heartbeat_ttl_seconds)
        self.seen = SeenStates()
        self.publisher: NatsPublisher | None = None
        self.relay: EnforcementRelay | None = None

    @property
    def url(self) -> str:
        if self.embedded is not None:
            return self.embedded.url
        return public_url(self.settings.nats_url or "")

    def status(self) -> str:
        if self.nc is None:
            return "starting"
        if self.embedded is not None and not self.embedded.running:
            return "error: embedded nats-server is not running"
        return "ok" if self.nc.is_connected else "reconnecting"

    async def start(self) -> None:
        settings = self.settings
        if settings.nats_url:
            # A cluster is given as a comma-separated seed list; the client fails over
            # between them and learns the rest of the cluster from the servers.
            self.nc = await nats.connect(
                [url.strip() for url in settings.nats_url.split(",") if url.strip()],
                name="unitledger-server",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                pending_size=64 * 1024 * 1024,
            )
        else:
            key = AccountKey()
            password = secrets.token_urlsafe(32)
            self.embedded = EmbeddedNats(
                EmbeddedNatsConfig(
                    host=settings.host,
                    port=settings.nats_port,
                    store_dir=settings.data_dir / "nats" / "jetstream",
                    password=password,
                    issuer=key.public,
                    monitor_port=settings.nats_monitor_port,
                ),
                settings.data_dir / "nats",
            )
            await self.embedded.start()
            self.nc = await nats.connect(
                self.embedded.url,
                user=INTERNAL_USER,
                password=password,
                name="unitledger-server",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                pending_size=64 * 1024 * 1024,
            )
            self.callout = AuthCallout(self.service, key)
            await self.callout.start(self.nc)
        js = self.nc.jetstream()
        replicas = settings.nats_kv_replicas
        enforcement_kv = await ensure_bucket(js, ENFORCEMENT_BUCKET, ttl=None, replicas=replicas)
        heartbeat_kv = await ensure_bucket(
            js, HEARTBEAT_BUCKET, ttl=settings.heartbeat_ttl_seconds, replicas=replicas
        )
        self.publisher = NatsPublisher(self.nc, enforcement_kv, self.seen)
        self.relay = EnforcementRelay(self.broadcaster, self.seen, self.publisher.replica_id)
        await self.relay.start(self.nc)
        self.fanout.add(self.publisher)
        await self._publish_current(enforcement_kv)
        await self.heartbeats.start(heartbeat_kv)
        await self.responder.start(self.nc)
        await self.nc.flush()
        log.info("NATS ready at %s", self.url)

    async def _publish_current(self, kv: Any) -> None:
        """Fill missing keys of the state bucket from the ledger's stored states.

        The bucket may be new (first start against an external NATS) while the ledger
        already holds states; a new subscriber must still find them.
        """
        assert self.publisher is not None
        stored = await asyncio.to_thread(self._stored_states)
        for change in stored:
            try:
                await kv.get(change.key)
            except nats.js.errors.KeyNotFoundError:
                await self.publisher.publish([change])

    def _stored_states(self) -> list[StateChange]:
        now = datetime.now(UTC)
        with self.service.unit_of_work_read() as uow:
            states = uow.states()
        return [
            StateChange(
                scope="global" if key == "global" else "extension",
                extension_id=None if key == "global" else key.removeprefix("ext."),
                state=row.state,
                previous=None,
                reason=row.reason,
                changed_at=now,
                seq=row.seq,
            )
            for key, row in states.items()
        ]

    async def stop(self) -> None:
        """Drain: stop taking reports, answer those in progress, then close and stop NATS."""
        await self.responder.stop()
        await self.heartbeats.stop()
        if self.publisher is not None and self.publisher in self.fanout.publishers:
            self.fanout.publishers.remove(self.publisher)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        if self.embedded is not None:
            await self.embedded.stop()
