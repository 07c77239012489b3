"""The composition root: builds adapters from settings and wires them into the service."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from unitledger.adapters.alerts import WebhookAlertPublisher
from unitledger.adapters.broadcast import FanoutPublisher, LocalBroadcaster
from unitledger.adapters.storage.attribution import RuleCache, SqlAttributionStore
from unitledger.adapters.storage.engine import make_engine, startup_lock
from unitledger.adapters.storage.migrate import upgrade
from unitledger.adapters.storage.queries import SqlQueries
from unitledger.adapters.storage.unit_of_work import SqlUnitOfWork
from unitledger.config import Settings
from unitledger.domain import ReportLimits
from unitledger.errors import ValidationFailed
from unitledger.service.allocation import AlertFanout, AllocationService, Chargeback, QuotaWatch
from unitledger.service.attribution import AttributionService
from unitledger.service.ports import Clock
from unitledger.service.service import UnitledgerService
from unitledger.signing import KeyPair, deployment_id_for, load_or_create_key, load_public_key

__all__ = ["Runtime", "build_service", "demo_vendor_key", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class NatsHandle(Protocol):
    """What the HTTP surface needs to know of the NATS runtime, when one runs."""

    @property
    def url(self) -> str: ...

    def status(self) -> str: ...


class HeartbeatSource(Protocol):
    """Extension instances alive right now, as their heartbeats say (adapters.nats)."""

    ttl: float

    def instances(self, now: float | None = None) -> Sequence[Any]: ...


@dataclass
class Runtime:
    """Everything ``serve`` needs: the service and the adapters built for it."""

    settings: Settings
    engine: Engine
    service: UnitledgerService
    broadcaster: LocalBroadcaster
    publisher: FanoutPublisher
    extra_routers: list[Any] = field(default_factory=list)
    nats: NatsHandle | None = None
    heartbeats: HeartbeatSource | None = None
    chargeback: Chargeback | None = None

    def nats_status(self) -> str:
        return "disabled" if self.nats is None else self.nats.status()

    def nats_url(self) -> str | None:
        return None if self.nats is None else self.nats.url


def demo_vendor_key(settings: Settings) -> KeyPair:
    """The demo vendor key pair, generated in the data directory on first use."""
    return load_or_create_key(settings.data_dir / "demo-vendor.key")


def vendor_keys(settings: Settings) -> list[Ed25519PublicKey]:
    keys: list[Ed25519PublicKey] = []
    configured = settings.vendor_public_key
    if configured:
        candidate = Path(configured).expanduser()
        text = (
            candidate.read_bytes()
            if "BEGIN" not in configured and candidate.exists()
            else configured
        )
        keys.append(load_public_key(text))
    default = settings.data_dir / "vendor.pub"
    if not configured and default.exists():
        keys.append(load_public_key(default.read_bytes()))
    if settings.demo or (settings.data_dir / "demo-vendor.key").exists():
        keys.append(demo_vendor_key(settings).public)
    return keys


def identity_key(settings: Settings) -> KeyPair:
    path = os.environ.get("UNITLEDGER_IDENTITY_KEY_FILE")
    return load_or_create_key(Path(path) if path else settings.data_dir / "identity.key")


def build_service(settings: Settings, *, clock: Clock = utc_now, migrate: bool = True) -> Runtime:
    """Create the data directory, migrate the database and build the service."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    identity = identity_key(settings)
    with startup_lock(engine):
        if migrate:
            upgrade(engine)
        _check_deployment(engine, deployment_id_for(identity.public))
    broadcaster = LocalBroadcaster()
    publisher = FanoutPublisher(broadcaster)
    service = UnitledgerService(
        unit_of_work=functools.partial(SqlUnitOfWork, engine, rules=RuleCache()),
        queries=SqlQueries(engine),
        clock=clock,
        publisher=publisher,
        identity=identity,
        vendor_keys=vendor_keys(settings),
        limits=ReportLimits(
            max_past=timedelta(seconds=settings.report_max_past_seconds),
            max_future=timedelta(seconds=settings.report_max_future_seconds),
        ),
        batch_max_size=settings.batch_max_size,
        batch_max_delay=settings.batch_max_delay_ms / 1000,
        max_in_flight=settings.max_in_flight,
        tick_seconds=settings.enforcement_tick_seconds,
        clock_tolerance=timedelta(seconds=settings.clock_rollback_tolerance_seconds),
    )
    chargeback = build_chargeback(settings, engine, service, clock)
    service.batch_listeners.append(chargeback.usage_stored)
    return Runtime(settings, engine, service, broadcaster, publisher, chargeback=chargeback)


def build_chargeback(
    settings: Settings, engine: Engine, service: UnitledgerService, clock: Clock
) -> Chargeback:
    """Attribution, allocation reports and soft-quota alerts over the same database."""
    store = functools.partial(SqlAttributionStore, engine)
    alerts = AlertFanout()
    if settings.webhook_url:
        alerts.add(WebhookAlertPublisher(settings.webhook_url))

    def licenses() -> list[Any]:
        with SqlUnitOfWork(engine, write=False) as uow:
            return [row.license for row in uow.licenses()]

    return Chargeback(
        attribution=AttributionService(store=store, clock=clock),
        reports=AllocationService(
            store=store, clock=clock, licenses=licenses, identity=service.identity
        ),
        quotas=QuotaWatch(store=store, clock=clock, publisher=alerts),
        alerts=alerts,
    )


def _check_deployment(engine: Engine, deployment_id: str) -> None:
    """Refuse to run one database under two identities (licenses are bound to one)."""
    with SqlUnitOfWork(engine) as uow:
        stored = uow.get_meta("deployment_id")
        if stored is None:
            uow.set_meta("deployment_id", deployment_id)
        elif stored != deployment_id:
            raise ValidationFailed(
                f"this database belongs to deployment {stored}, but the identity key is for "
                f"{deployment_id}; point UNITLEDGER_IDENTITY_KEY_FILE at the original key",
                field="identity_key",
            )
