"""Evaluating and persisting enforcement states; each change is produced once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from unitledger.domain import (
    EnforcementState,
    GlobalEnforcement,
    LicensePool,
    extension_state,
    global_enforcement,
    period_key,
    pool_for,
    with_clock_warning,
)
from unitledger.service.ports import ExtensionRow, StateChange, UnitOfWork

__all__ = ["Snapshot", "evaluate_states", "load_pools"]


def load_pools(uow: UnitOfWork, now: datetime, *, lock: bool) -> list[LicensePool]:
    """Every installed license with its pool for the period of ``now``."""
    rows = uow.licenses()
    keys = [(r.license.license_id, period_key(r.license, now)) for r in rows]
    stored = uow.pools(keys, lock=lock)
    return [LicensePool(r.license, pool_for(r.license, stored, now)) for r in rows]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Global enforcement plus each known extension's state at one instant."""

    global_: GlobalEnforcement
    extensions: dict[str, tuple[EnforcementState, tuple[str, ...]]]

    def state_of(self, extension_id: str) -> EnforcementState:
        found = self.extensions.get(extension_id)
        return found[0] if found else self.global_.state


def snapshot(
    pools: Sequence[LicensePool],
    extensions: Iterable[ExtensionRow],
    now: datetime,
    clock_warning: str | None = None,
) -> Snapshot:
    """States at ``now``; ``clock_warning`` (a clock set back) raises OK to WARNING."""
    overall = with_clock_warning(global_enforcement(pools, now), clock_warning)
    states = {
        ext.extension_id: extension_state(
            ext.extension_id, ext.uncovered, pools, overall.state, now
        )
        for ext in extensions
    }
    return Snapshot(overall, states)


def _reason(state: EnforcementState, uncovered: tuple[str, ...], global_reason: str) -> str:
    if state is EnforcementState.DISABLED:
        return f"reports dimension(s) no valid license covers: {', '.join(uncovered)}"
    if state is EnforcementState.UNLICENSED:
        return "no valid license covers this extension"
    return global_reason


def evaluate_states(
    uow: UnitOfWork,
    pools: Sequence[LicensePool],
    now: datetime,
    clock_warning: str | None = None,
) -> tuple[Snapshot, list[StateChange]]:
    """Compute current states, store the ones that changed, and return those changes.

    Runs inside the writer's transaction, so two replicas never both announce the
    same change: the second sees the first one's stored state.
    """
    extensions = uow.extensions()
    snap = snapshot(pools, extensions.values(), now, clock_warning)
    stored = uow.states()
    changes: list[StateChange] = []

    def consider(
        key: str,
        ext_id: str | None,
        state: EnforcementState,
        reason: str,
        uncovered: tuple[str, ...] = (),
    ) -> None:
        prior = stored.get(key)
        if prior is not None and prior.state == state.value:
            return
        changes.append(
            StateChange(
                scope="global" if ext_id is None else "extension",
                extension_id=ext_id,
                state=state.value,
                previous=None if prior is None else prior.state,
                reason=reason,
                changed_at=now,
                seq=1 if prior is None else prior.seq + 1,
                uncovered_dimensions=uncovered,
            )
        )

    consider("global", None, snap.global_.state, snap.global_.reason)
    for ext_id, (state, uncovered) in sorted(snap.extensions.items()):
        consider(
            f"ext.{ext_id}",
            ext_id,
            state,
            _reason(state, uncovered, snap.global_.reason),
            uncovered,
        )
    uow.save_states(changes)
    return snap, changes
