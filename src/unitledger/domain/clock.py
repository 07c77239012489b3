"""The server clock as the license rules may trust it: never before the latest time seen.

Licenses are judged against "now". Setting the system clock back would otherwise
turn an expired license valid again or reopen a used-up monthly pool. The server
persists the latest time it has seen; rules use whichever is later, the system
clock or that time, and a clock more than a tolerance behind it is flagged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from unitledger.domain.enforcement import EnforcementState, GlobalEnforcement

__all__ = ["ClockReading", "read_clock", "with_clock_warning"]


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One look at the system clock against the latest time seen before it.

    Attributes:
        system: what the system clock said.
        now: the time the rules use: ``system``, or ``latest_seen`` when that is later.
        latest_seen: the latest time seen so far, this reading included.
        tolerance: how far behind the system clock may be before it is flagged
            (replicas' clocks differ a little; NTP steps back a little).
    """

    system: datetime
    now: datetime
    latest_seen: datetime
    tolerance: timedelta

    @property
    def behind(self) -> timedelta:
        return max(self.latest_seen - self.system, timedelta(0))

    @property
    def rolled_back(self) -> bool:
        return self.behind > self.tolerance

    @property
    def reason(self) -> str | None:
        """Why the state is flagged, or None while the clock is trustworthy."""
        if not self.rolled_back:
            return None
        return (
            f"the system clock is {_span(self.behind)} behind the latest time this server "
            f"has seen ({self.latest_seen:%Y-%m-%d %H:%M:%S} UTC); licenses are judged at "
            "that time until the clock is corrected"
        )


def read_clock(
    system: datetime, latest_seen: datetime | None, tolerance: timedelta
) -> ClockReading:
    """Compare ``system`` with the latest time seen before (None on a new server)."""
    if latest_seen is None or system >= latest_seen:
        return ClockReading(system, system, system, tolerance)
    return ClockReading(system, latest_seen, latest_seen, tolerance)


def with_clock_warning(overall: GlobalEnforcement, reason: str | None) -> GlobalEnforcement:
    """Raise OK to WARNING (and add the reason to WARNING) while the clock is flagged.

    UNLICENSED stays as it is: nothing is valid either way.
    """
    if reason is None or overall.state is EnforcementState.UNLICENSED:
        return overall
    if overall.state is EnforcementState.WARNING:
        return dataclasses.replace(overall, reason=f"{overall.reason}; {reason}")
    return dataclasses.replace(overall, state=EnforcementState.WARNING, reason=reason)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds // 60} minutes" if seconds >= 60 else f"{seconds} seconds"
