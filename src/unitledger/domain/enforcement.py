"""Enforcement states, global and per extension (SPEC §2)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from unitledger.domain.charging import LicensePool
from unitledger.domain.licenses import LicenseStatus, license_status

__all__ = [
    "WARNING_RATIO",
    "EnforcementState",
    "GlobalEnforcement",
    "extension_state",
    "global_enforcement",
]

WARNING_RATIO = 0.9


class EnforcementState(enum.StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    UNLICENSED = "UNLICENSED"
    DISABLED = "DISABLED"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def enabled(self) -> bool:
        """Whether an extension in this state may consume licensed capacity."""
        return self in (EnforcementState.OK, EnforcementState.WARNING)


_SEVERITY = {
    EnforcementState.OK: 0,
    EnforcementState.WARNING: 1,
    EnforcementState.DISABLED: 2,
    EnforcementState.UNLICENSED: 2,
}


@dataclass(frozen=True, slots=True)
class GlobalEnforcement:
    state: EnforcementState
    available_units: float
    used_units: float
    reason: str

    @property
    def remaining_units(self) -> float:
        return self.available_units - self.used_units

    @property
    def over(self) -> bool:
        return self.used_units > self.available_units


def global_enforcement(pools: Sequence[LicensePool], now: datetime) -> GlobalEnforcement:
    """OK, WARNING (>= 90 % used or a license in grace) or UNLICENSED (nothing valid)."""
    statuses = [(p, license_status(p.license, p.pool, now)) for p in pools]
    valid = [(p, s) for p, s in statuses if s.is_valid]
    if not valid:
        return GlobalEnforcement(EnforcementState.UNLICENSED, 0.0, 0.0, "no valid license")
    available = sum(p.license.capacity_units for p, _ in valid)
    used = sum(p.pool.used_units for p, _ in valid)
    grace = sorted(p.license.license_id for p, s in valid if s is LicenseStatus.GRACE)
    if grace:
        reason = f"license(s) in grace period: {', '.join(grace)}"
        return GlobalEnforcement(EnforcementState.WARNING, available, used, reason)
    if used >= WARNING_RATIO * available:
        reason = f"{used / available:.1%} of licensed capacity used"
        return GlobalEnforcement(EnforcementState.WARNING, available, used, reason)
    return GlobalEnforcement(EnforcementState.OK, available, used, "within licensed capacity")


def extension_state(
    extension_id: str,
    uncovered_dimensions: Iterable[str],
    pools: Sequence[LicensePool],
    global_state: EnforcementState,
    now: datetime,
) -> tuple[EnforcementState, tuple[str, ...]]:
    """An extension's state and the dimensions still keeping it disabled.

    DISABLED while it has reported a dimension no valid license covers for it;
    UNLICENSED when no valid license covers it at all; otherwise the global state,
    raised to WARNING when a license covering it is in grace.
    """
    covering = [
        (p, s)
        for p in pools
        if p.license.rates_for(extension_id) is not None
        and (s := license_status(p.license, p.pool, now)).is_valid
    ]
    covered: set[str] = set()
    for p, _ in covering:
        covered.update(p.license.rates_for(extension_id) or {})
    still = tuple(sorted(set(uncovered_dimensions) - covered))
    if still:
        return EnforcementState.DISABLED, still
    if not covering or global_state is EnforcementState.UNLICENSED:
        return EnforcementState.UNLICENSED, ()
    if any(s is LicenseStatus.GRACE for _, s in covering):
        return EnforcementState.WARNING, ()
    return global_state, ()
