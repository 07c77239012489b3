"""Protocol v1 bodies: building and checking report requests, reading replies and state changes.

The checks mirror the server's, message for message, so a bad report fails before
it is sent with the same code, field and text (sdk/conformance/vectors).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unitledger_sdk._errors import InvalidReport, UnitledgerError, error_from_reply

__all__ = [
    "EnforcementChange",
    "StateTracker",
    "UsageResult",
    "build_report",
    "parse_reply",
]

DIMENSION_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
EXTENSION_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+:/\\-]{0,127}")
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
MAX_DIMENSIONS = 64
MAX_VALUE = 1e15
DISABLED_STATES = frozenset({"DISABLED", "UNLICENSED"})


def check_extension_id(value: object) -> str:
    if not isinstance(value, str) or not EXTENSION_ID.fullmatch(value):
        raise InvalidReport(
            f"extension_id {value!r} is invalid: use 1-64 characters from a-z, 0-9, '-' "
            "and '_', starting with a letter or digit",
            field="extension_id",
        )
    return value


def _dimensions(raw: object) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise InvalidReport("dimensions must be an object of {name: value}", field="dimensions")
    if not raw:
        raise InvalidReport(
            "dimensions is empty: report at least one dimension", field="dimensions"
        )
    if len(raw) > MAX_DIMENSIONS:
        raise InvalidReport(
            f"too many dimensions ({len(raw)}); at most {MAX_DIMENSIONS} per report",
            field="dimensions",
        )
    values: dict[str, float] = {}
    for name in sorted(raw, key=str):
        value = raw[name]
        where = f"dimensions.{name}" if isinstance(name, str) and len(name) <= 64 else "dimensions"
        if not isinstance(name, str) or not DIMENSION_NAME.fullmatch(name):
            raise InvalidReport(
                f"dimension name {name!r} is invalid: names match [a-z][a-z0-9_]{{0,63}} "
                "(lower-case letter first, then letters, digits or underscores)",
                field=where,
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidReport(f"{where} must be a number, got {value!r}", field=where)
        number = float(value) if abs(value) < 1e300 else math.inf
        if math.isnan(number) or math.isinf(number):
            raise InvalidReport(f"{where} must be a finite number, got {value!r}", field=where)
        if number < 0:
            raise InvalidReport(
                f"{where} is negative ({value!r}); values are non-negative increments", field=where
            )
        if number > MAX_VALUE:
            raise InvalidReport(f"{where} is too large (at most {MAX_VALUE:g})", field=where)
        values[name] = value
    return values


def build_report(
    extension_id: str,
    dimensions: Mapping[str, float],
    idempotency_key: str,
    *,
    account: str | None = None,
    occurred_at: str | None = None,
) -> dict[str, Any]:
    """A checked request body (dimensions sorted by name), or InvalidReport naming the field."""
    check_extension_id(extension_id)
    body: dict[str, Any] = {
        "extension_id": extension_id,
        "dimensions": _dimensions(dimensions),
        "idempotency_key": idempotency_key,
    }
    if account is not None:
        if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
            raise InvalidReport(
                f"account {account!r} is invalid: use 1-128 printable ASCII characters "
                "(letters, digits and . _ @ + : / -), starting with a letter or digit",
                field="account",
            )
        body["account"] = account
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidReport(
            "idempotency_key must be 1-128 characters from A-Z a-z 0-9 . _ : -",
            field="idempotency_key",
        )
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    return body


@dataclass(frozen=True, slots=True)
class UsageResult:
    """What the server answered to one report (or that it waits in the offline buffer).

    Attributes:
        record_id: the usage record; None when quarantined or still buffered.
        units: total units charged.
        units_by_dimension: the units per dimension.
        state: the global enforcement state after the report.
        extension_state: this extension's state after the report.
        license_ids: the licenses the units were charged to.
        duplicate: the server had this idempotency key already and answered the first outcome.
        quarantine_id: set when a dimension no license covers kept the report in quarantine.
        reason: why the report was quarantined.
        buffered: the server was unreachable; the report waits in the offline buffer.
        idempotency_key: the key the report was (or will be) sent with.
    """

    record_id: int | None
    units: float
    units_by_dimension: Mapping[str, float]
    state: str
    extension_state: str
    license_ids: tuple[str, ...] = ()
    duplicate: bool = False
    quarantine_id: int | None = None
    reason: str | None = None
    buffered: bool = False
    idempotency_key: str = ""

    @property
    def enabled(self) -> bool:
        return self.extension_state not in DISABLED_STATES


def parse_reply(data: bytes, idempotency_key: str = "") -> UsageResult:
    """The result inside a reply, or the typed error it carries."""
    try:
        body = json.loads(data)
    except ValueError:
        raise UnitledgerError("the server's reply is not JSON", status=502) from None
    if not isinstance(body, dict):
        raise UnitledgerError("the server's reply is not a JSON object", status=502)
    if body.get("ok") is True and isinstance(body.get("result"), dict):
        r = body["result"]
        return UsageResult(
            record_id=r.get("record_id"),
            units=float(r.get("units", 0.0)),
            units_by_dimension={
                str(k): float(v) for k, v in (r.get("units_by_dimension") or {}).items()
            },
            state=str(r.get("state", "")),
            extension_state=str(r.get("extension_state", "")),
            license_ids=tuple(str(i) for i in r.get("license_ids") or ()),
            duplicate=bool(r.get("duplicate", False)),
            quarantine_id=r.get("quarantine_id"),
            reason=r.get("reason"),
            idempotency_key=idempotency_key,
        )
    if body.get("ok") is False:
        raise error_from_reply(body.get("error"))
    raise UnitledgerError("the server answered without a result or an error", status=502)


@dataclass(frozen=True, slots=True)
class EnforcementChange:
    """One announced change of the global state or of one extension's state."""

    scope: str
    extension_id: str | None
    state: str
    previous_state: str | None
    reason: str
    changed_at: str
    seq: int
    uncovered_dimensions: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return "global" if self.extension_id is None else f"ext.{self.extension_id}"

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> EnforcementChange:
        ext = body.get("extension_id")
        return cls(
            scope=str(body["scope"]),
            extension_id=None if ext is None else str(ext),
            state=str(body["state"]),
            previous_state=body.get("previous_state"),
            reason=str(body.get("reason", "")),
            changed_at=str(body.get("changed_at", "")),
            seq=int(body["seq"]),
            uncovered_dimensions=tuple(str(d) for d in body.get("uncovered_dimensions") or ()),
        )


class StateTracker:
    """The latest change per key (highest ``seq`` wins) and the effective state."""

    def __init__(self, extension_id: str) -> None:
        self.extension_id = extension_id
        self.latest: dict[str, EnforcementChange] = {}

    def apply(self, change: EnforcementChange) -> bool:
        """Take ``change`` if it is for us and newer than what we have; say whether it was."""
        if change.key not in ("global", f"ext.{self.extension_id}"):
            return False
        known = self.latest.get(change.key)
        if known is not None and known.seq >= change.seq:
            return False
        self.latest[change.key] = change
        return True

    @property
    def global_state(self) -> str:
        found = self.latest.get("global")
        return "OK" if found is None else found.state

    @property
    def state(self) -> str:
        own = self.latest.get(f"ext.{self.extension_id}")
        if own is not None and own.state in DISABLED_STATES:
            return own.state
        return self.global_state

    @property
    def enabled(self) -> bool:
        return self.state not in DISABLED_STATES
