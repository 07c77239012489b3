"""Remembering the latest time seen, so a clock set back cannot extend a license.

Every write path (ingest batches, the enforcement tick, license changes) calls
:meth:`ClockGuard.observe` inside its transaction, after taking the ledger lock:
it reads the persisted latest time, stores a later one, and records the start
and end of a rollback in the audit log once. The rule itself is
:func:`unitledger.domain.clock.read_clock`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from unitledger.domain import from_micros, to_micros
from unitledger.domain.clock import ClockReading, read_clock
from unitledger.service.ports import UnitOfWork

__all__ = ["ClockGuard"]

LATEST_SEEN = "clock.latest_seen_us"
ROLLBACK_SINCE = "clock.rollback_since_us"
# Persisting every batch's time would add a write per batch; a second's lag is harmless.
PERSIST_STEP = timedelta(seconds=1)


class ClockGuard:
    """Holds this replica's last reading; the database holds the latest time seen."""

    def __init__(self, tolerance: timedelta) -> None:
        self.tolerance = tolerance
        self.reading: ClockReading | None = None

    @property
    def warning(self) -> str | None:
        """The reason to flag the global state, while the clock is behind."""
        return None if self.reading is None else self.reading.reason

    def effective(self, system: datetime) -> datetime:
        """The time read paths use: ``system``, unless this replica has seen later."""
        if self.reading is None:
            return system
        return read_clock(system, self.reading.latest_seen, self.tolerance).now

    def observe(self, uow: UnitOfWork, system: datetime) -> datetime:
        """Check ``system`` against the persisted latest time; returns the time to use."""
        stored = uow.get_meta(LATEST_SEEN)
        latest = from_micros(int(stored)) if stored else None
        reading = read_clock(system, latest, self.tolerance)
        if latest is None or reading.latest_seen - latest >= PERSIST_STEP:
            uow.set_meta(LATEST_SEEN, str(to_micros(reading.latest_seen)))
        if reading.rolled_back and not uow.get_meta(ROLLBACK_SINCE):
            uow.set_meta(ROLLBACK_SINCE, str(to_micros(system)))
            uow.audit("system", "clock.rollback", "clock", _detail(reading), reading.now)
        elif (
            not reading.rolled_back
            # Looked up only after a flagged reading or a restart, not on every batch.
            and (self.reading is None or self.reading.rolled_back)
            and uow.get_meta(ROLLBACK_SINCE)
        ):
            uow.set_meta(ROLLBACK_SINCE, "")
            uow.audit("system", "clock.recovered", "clock", _detail(reading), reading.now)
        self.reading = reading
        return reading.now


def _detail(reading: ClockReading) -> str:
    return json.dumps(
        {
            "system_time": reading.system.isoformat(),
            "latest_seen": reading.latest_seen.isoformat(),
            "behind_seconds": round(reading.behind.total_seconds(), 3),
            "reason": reading.reason,
        }
    )
