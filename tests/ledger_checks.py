"""Checks of a finished ledger, shared by the storage, replica and failover tests.

They replay the records in chain order against an independent, deliberately
simple model of SPEC §2 charging (soonest expiry first, overflow to the next,
overage to the last) and compare with what the server stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

TOLERANCE = 1e-6


def charging_order(licenses: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(licenses, key=lambda v: (v["expires_at"], v["issued_at"], v["license_id"]))


def expected_charges(
    units: float, ordered: Sequence[Mapping[str, Any]], used: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """license_id -> (units, over_units) that one report of ``units`` should be charged."""
    result: dict[str, tuple[float, float]] = {}
    left = units
    for lic in ordered:
        if left <= 0:
            break
        room = max(lic["capacity_units"] - used[lic["license_id"]], 0.0)
        take = min(room, left)
        if take > 0:
            result[lic["license_id"]] = (take, 0.0)
            left -= take
    if left > 0:
        last = ordered[-1]["license_id"]
        prior = result.get(last, (0.0, 0.0))
        result[last] = (prior[0] + left, prior[1] + left)
    return result


def check_charging(
    records: Iterable[Mapping[str, Any]], licenses: Iterable[Mapping[str, Any]]
) -> dict[str, float]:
    """Assert every record was charged in SPEC order and pools match; returns units per pool.

    ``records`` and ``licenses`` are the API's views (``/usage/records`` items and
    ``/licenses``); every license must cover every reporting extension.
    """
    views = list(licenses)
    ordered = charging_order(views)
    used = {lic["license_id"]: 0.0 for lic in views}
    for record in sorted(records, key=lambda r: r["record_id"]):
        want = expected_charges(record["units"], ordered, used)
        got = {c["license_id"]: (c["units"], c["over_units"]) for c in record["charges"]}
        assert got.keys() == want.keys(), (record["record_id"], got, want)
        for license_id, (units, over) in want.items():
            assert abs(got[license_id][0] - units) < TOLERANCE, (record["record_id"], got, want)
            assert abs(got[license_id][1] - over) < TOLERANCE, (record["record_id"], got, want)
            used[license_id] += units
    for lic in views:
        assert abs(lic["used_units"] - used[lic["license_id"]]) < TOLERANCE, (lic, used)
    return used
