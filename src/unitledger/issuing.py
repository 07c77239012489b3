"""Issuing licenses: what a vendor does with its private key (``unitledger license issue``)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unitledger.domain import parse_license
from unitledger.errors import InvalidLicense
from unitledger.signing import LICENSE_FORMAT, KeyPair, sign_envelope

__all__ = ["issue_license", "load_spec"]


def _stamp(value: Any) -> Any:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def load_spec(path: Path) -> dict[str, Any]:
    """Read a license spec from TOML (or JSON); TOML datetimes become ISO strings."""
    text = path.read_text()
    if path.suffix == ".json":
        import json

        data: dict[str, Any] = json.loads(text)
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidLicense(f"{path} is not valid TOML: {exc}", field="spec") from None
    return {key: _stamp(value) for key, value in data.items()}


def issue_license(
    spec: dict[str, Any], key: KeyPair, *, now: datetime | None = None
) -> dict[str, Any]:
    """Validate ``spec`` as a license and sign it. Missing ``issued_at`` is set to now."""
    payload = dict(spec)
    payload.setdefault("issued_at", _stamp(now or datetime.now(UTC)))
    payload.setdefault("valid_from", payload["issued_at"])
    parse_license(payload)
    return sign_envelope(payload, key, LICENSE_FORMAT)
