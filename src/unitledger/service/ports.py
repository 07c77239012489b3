"""What the service layer needs from the outside world, declared where it is used.

Storage (``adapters.storage``), NATS (``adapters.nats``) and the in-memory
fakes in ``service.fakes`` implement these; use cases only see the Protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from unitledger.domain import License, PoolUsage

__all__ = [
    "Attribution",
    "Attributor",
    "Clock",
    "ExistingReport",
    "ExtensionRow",
    "LicenseRow",
    "NoAttribution",
    "Publisher",
    "QuarantineRow",
    "RecordRow",
    "RollupKey",
    "StateChange",
    "StoredState",
    "UnitOfWork",
    "UnitOfWorkFactory",
]

Clock = Callable[[], datetime]
# (hour_us, extension_id, account, business_unit_id or '', dimension) of an hourly rollup.
RollupKey = tuple[int, str, str, str, str]


@dataclass(frozen=True, slots=True)
class StateChange:
    """A global or per-extension enforcement state that just changed."""

    scope: str  # "global" or "extension"
    extension_id: str | None
    state: str
    previous: str | None
    reason: str
    changed_at: datetime
    seq: int
    uncovered_dimensions: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return "global" if self.extension_id is None else f"ext.{self.extension_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "scope": self.scope,
            "extension_id": self.extension_id,
            "state": self.state,
            "previous_state": self.previous,
            "reason": self.reason,
            "uncovered_dimensions": list(self.uncovered_dimensions),
            "changed_at": self.changed_at.isoformat().replace("+00:00", "Z"),
            "seq": self.seq,
        }


class Publisher(Protocol):
    async def publish(self, changes: Sequence[StateChange]) -> None: ...


@dataclass(frozen=True, slots=True)
class Attribution:
    business_unit_id: str
    rule_id: str | None
    rule_version: int | None
    method: str = "auto"


class Attributor(Protocol):
    def attribute(self, extension_id: str, account: str) -> Attribution | None: ...


class NoAttribution:
    """Used until attribution rules exist: every record starts unattributed."""

    def attribute(self, extension_id: str, account: str) -> Attribution | None:
        return None


@dataclass(frozen=True, slots=True)
class LicenseRow:
    license: License
    envelope: str
    installed_at: datetime


@dataclass(frozen=True, slots=True)
class ExistingReport:
    kind: str  # "record" or "quarantine"
    fingerprint: str
    row: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExtensionRow:
    extension_id: str
    first_seen_us: int
    last_report_us: int | None
    uncovered: tuple[str, ...]
    reports: int


@dataclass(frozen=True, slots=True)
class StoredState:
    state: str
    reason: str
    seq: int


@dataclass(slots=True)
class RecordRow:
    values: dict[str, Any]


@dataclass(slots=True)
class QuarantineRow:
    values: dict[str, Any] = field(default_factory=dict)


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work; ``write=False`` for reads that must not take the write lock."""

    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


class UnitOfWork(Protocol):
    """One transaction over the ledger. Commits on clean exit, rolls back on error."""

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, *exc: object) -> None: ...

    def licenses(self) -> list[LicenseRow]: ...
    def add_license(self, license: License, payload: str, envelope: str, now: datetime) -> None: ...
    def revoke_license(self, license_id: str, now: datetime, actor: str) -> None: ...
    def pools(
        self, keys: Iterable[tuple[str, str]], *, lock: bool
    ) -> dict[tuple[str, str], PoolUsage]: ...
    def save_pools(self, pools: Iterable[PoolUsage]) -> None: ...
    def lock_head(self) -> tuple[int, str]: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def save_head(self, seq: int, hash_: str) -> None: ...
    def existing(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], ExistingReport]: ...
    def insert_records(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def add_rollups(self, sums: Mapping[RollupKey, Sequence[float]]) -> None:
        """Add [value, units, records] per (hour_us, extension, account, BU or '', dimension)."""

    def insert_quarantine(self, row: dict[str, Any]) -> int: ...
    def mark_replayed(self, quarantine_id: int, record_id: int) -> None: ...
    def extensions(self, ids: Iterable[str] | None = None) -> dict[str, ExtensionRow]: ...
    def save_extensions(self, rows: Iterable[ExtensionRow]) -> None: ...
    def states(self) -> dict[str, StoredState]: ...
    def save_states(self, changes: Sequence[StateChange]) -> None: ...
    def add_counters(self, deltas: Mapping[tuple[str, str], int]) -> None: ...
    def attributor(self) -> Attributor: ...
    def add_token(
        self,
        token_id: str,
        token_hash: str,
        role: str,
        extension_id: str | None,
        name: str,
        now: datetime,
    ) -> None: ...
    def revoke_token(self, token_id: str, now: datetime) -> bool: ...
    def audit(self, actor: str, action: str, subject: str, detail: str, now: datetime) -> None: ...
